import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { createDockerClient } from '../../../plugins/shared/containers/docker-engine.js';
import { startOwnProcess, type OwnProcess } from '../../faults/support/fault-processes.js';
import type { NetHost } from './test-network.js';

/**
 * A Docker engine of a test host's own: its own socket, data-root and
 * exec-root, in the host's network namespace (entered with
 * nsenter: `ip netns exec` remounts /sys and dockerd then finds no devices
 * cgroup). Containers run with networking disabled, as tideflow makes them.
 */
export class HostDocker {
  proc?: OwnProcess;
  docker?: Docker;
  readonly socket: string;

  constructor(
    private readonly host: NetHost,
    /** Short: the socket path must fit a sun_path (108 bytes), containerd's below exec-root too. */
    private readonly runDir: string,
    private readonly dataRoot: string,
  ) {
    this.socket = path.join(runDir, 'docker.sock');
  }

  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  async start(timeoutMs = 60_000): Promise<Docker> {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.dataRoot, { recursive: true });
    const [cmd, ...args] = this.host.enter(
      'dockerd',
      '--data-root', this.dataRoot,
      '--exec-root', path.join(this.runDir, 'x'),
      '--pidfile', path.join(this.runDir, 'docker.pid'),
      '-H', this.dockerHost,
      // No --cgroup-parent: a real second host puts its containers under docker/<id> too, where the analyzer reads and kills them.
      '--bridge=none', '--iptables=false', '--ip6tables=false',
    );
    this.proc = startOwnProcess(cmd!, args, process.env);
    this.docker = createDockerClient(this.dockerHost);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.docker.ping();
        return this.docker;
      } catch (err) {
        if (this.proc.child.exitCode !== null) throw new Error(`dockerd of ${this.host.name} exited:\n${this.proc.output().slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`dockerd of ${this.host.name} did not answer in ${timeoutMs} ms: ${String(err)}\n${this.proc.output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Removes every container of this engine (ours alone), then stops it by its PID and deletes its data. */
  async destroy(): Promise<void> {
    if (this.docker && this.proc?.child.exitCode === null) {
      const all = await this.docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(all.map((c) => this.docker!.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    }
    if (this.proc && this.proc.child.exitCode === null) {
      this.proc.signal('SIGTERM');
      const timer = setTimeout(() => this.proc!.signal('SIGKILL'), 20_000);
      await this.proc.exited;
      clearTimeout(timer);
    }
    rmSync(this.runDir, { recursive: true, force: true });
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}
