import { Redis } from 'ioredis';

/** What one side of a bench cost, per job. */
export interface TrafficPerJob {
  /** Commands this process sent (BullMQ's and tideflow's: every ioredis client here): requests answered one each, whether or not pipelining shares a round trip. */
  sent: number;
  /** Socket reads Redis served (each a client write: one round trip, however many commands it carries; moves with timing). */
  roundTrips: number;
  /** Commands Redis ran, the ones inside Lua scripts included. */
  commands: number;
  /** Scripts run (EVALSHA/EVAL calls). */
  scripts: number;
  /** Redis CPU time (user + system), µs. */
  redisCpuUs: number;
  /** This process's CPU time (user + system), µs. */
  nodeCpuUs: number;
}

/** Commands sent by every ioredis client of this process (pipelined ones included), counted once the module is loaded. */
let sentCommands = 0;
const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
const sendCommand = proto.sendCommand;
proto.sendCommand = function (this: unknown, ...args: unknown[]) {
  sentCommands++;
  return sendCommand.apply(this, args);
};

function field(info: string, name: string): number {
  const m = new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

function calls(commandstats: string, pattern: RegExp): number {
  let n = 0;
  for (const line of commandstats.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && pattern.test(m[1]!)) n += Number(m[2]);
  }
  return n;
}

/**
 * Counts what Redis and this process spent between start() and stop(): a
 * deterministic figure (round trips and commands per job) next to the
 * throughput, which moves with the machine's load. The bench's Redis is
 * private, so every count is the measured side's (plus the few commands
 * of this probe itself).
 */
export class RedisTraffic {
  private readonly probe: Redis;
  private startCpu?: NodeJS.CpuUsage;
  private startRedisCpu = 0;
  private startSent = 0;

  constructor(url: string) {
    this.probe = new Redis(url, { maxRetriesPerRequest: null });
  }

  async start(): Promise<void> {
    await this.probe.config('RESETSTAT');
    this.startRedisCpu = this.redisCpu(await this.probe.info('cpu'));
    this.startCpu = process.cpuUsage();
    this.startSent = sentCommands;
  }

  async stop(jobs: number): Promise<TrafficPerJob> {
    const cpu = process.cpuUsage(this.startCpu);
    const sent = sentCommands - this.startSent;
    const [stats, commandstats, cpuInfo] = await Promise.all([this.probe.info('stats'), this.probe.info('commandstats'), this.probe.info('cpu')]);
    return {
      sent: sent / jobs,
      roundTrips: field(stats, 'total_reads_processed') / jobs,
      commands: calls(commandstats, /./) / jobs,
      scripts: calls(commandstats, /^eval/) / jobs,
      redisCpuUs: (this.redisCpu(cpuInfo) - this.startRedisCpu) * 1e6 / jobs,
      nodeCpuUs: (cpu.user + cpu.system) / jobs,
    };
  }

  close(): void {
    this.probe.disconnect();
  }

  private redisCpu(info: string): number {
    return field(info, 'used_cpu_user') + field(info, 'used_cpu_sys');
  }
}
