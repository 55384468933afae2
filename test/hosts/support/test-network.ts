import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

/** The test network's subnet: a /24 of our own, only on a bridge this test makes. */
export const SUBNET = '10.213.77';
const BRIDGE_PREFIX = 'tfbr';
const NS_PREFIX = 'tfhost-';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** One test host: a network namespace on the test bridge, with its own address. */
export interface NetHost {
  name: string;
  /** Network namespace name (under /var/run/netns). */
  ns: string;
  address: string;
  /** argv prefix that runs a command in this host's network (nsenter, not `ip netns exec`: dockerd needs the host's /sys). */
  enter(cmd: string, ...args: string[]): string[];
}

/**
 * Hosts on one machine, as network namespaces joined by a Linux bridge in
 * the root namespace (the test process reaches them over the bridge, as an
 * operator's machine would over a LAN). Traffic stays on this bridge: the
 * subnet is routed nowhere else.
 */
export class TestNetwork {
  readonly id = randomBytes(3).toString('hex');
  readonly bridge = `${BRIDGE_PREFIX}${this.id}`;
  /** The bridge's own address, the test process's side of the network. */
  readonly gateway = `${SUBNET}.1`;
  private readonly hosts: NetHost[] = [];

  /** Checks we are root with `ip netns`, and clears what a crashed run of this suite left (our prefixes only). */
  static preflight(): void {
    if (process.getuid?.() !== 0) throw new Error('the multi-host tests make network namespaces: run them as root');
    try {
      ip('-V');
    } catch {
      throw new Error('`ip` (iproute2) is missing: apt-get install iproute2');
    }
    for (const line of ip('-o', 'link', 'show', 'type', 'bridge').split('\n')) {
      const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
      if (name?.startsWith(BRIDGE_PREFIX)) ip('link', 'del', name);
    }
    const nsList = existsSync('/var/run/netns') ? ip('netns', 'list') : '';
    for (const line of nsList.split('\n')) {
      const ns = line.split(' ')[0];
      if (ns?.startsWith(NS_PREFIX)) ip('netns', 'del', ns);
    }
  }

  create(): this {
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.gateway}/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
    return this;
  }

  addHost(name: string): NetHost {
    const n = this.hosts.length + 2;
    const ns = `${NS_PREFIX}${this.id}-${name}`;
    const veth = `tfv${this.id}${n}`;
    ip('netns', 'add', ns);
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('link', 'set', veth, 'master', this.bridge, 'up');
    const address = `${SUBNET}.${n}`;
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const host: NetHost = { name, ns, address, enter: (cmd, ...args) => ['nsenter', `--net=/var/run/netns/${ns}`, cmd, ...args] };
    this.hosts.push(host);
    return host;
  }

  destroy(): void {
    for (const h of this.hosts) {
      try {
        ip('netns', 'del', h.ns);
      } catch {
        // already gone
      }
    }
    try {
      ip('link', 'del', this.bridge);
    } catch {
      // already gone
    }
  }
}
