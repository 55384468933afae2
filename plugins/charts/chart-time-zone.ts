import { isValidTimezone } from '../../core/workflow/schema-validator.js';

/** The environment variable naming the charts' time zone when the chart config has no `timeZone`. */
export const TIME_ZONE_ENV = 'TIDEFLOW_TZ';

export class InvalidTimeZoneError extends Error {
  constructor(zone: string, where: string) {
    super(`${where} is "${zone}", which is not an IANA time zone (e.g. "UTC", "Europe/Paris", "America/New_York")`);
    this.name = 'InvalidTimeZoneError';
  }
}

/** Offsets are looked up once per quarter hour: no zone changes its offset off a 15-minute boundary. */
const SLOT_MS = 15 * 60_000;

/**
 * The time zone the charts show. Vega formats times only in UTC or in the
 * process's own zone, so times are shifted to the zone's wall clock before
 * they reach a spec ("UTC" that reads as local time) and formatted as UTC.
 */
export class ChartTimeZone {
  static readonly UTC = new ChartTimeZone('UTC');

  private readonly offsets = new Map<number, number>();
  private readonly parts?: Intl.DateTimeFormat;

  private constructor(readonly name: string) {
    if (name !== 'UTC') {
      this.parts = new Intl.DateTimeFormat('en-US', {
        timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    }
  }

  /**
   * The zone from the chart config, else TIDEFLOW_TZ, else UTC. A zone that
   * is not an IANA name throws InvalidTimeZoneError naming where it came from.
   */
  static resolve(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): ChartTimeZone {
    const fromEnv = env[TIME_ZONE_ENV]?.trim();
    const [zone, where] = configured !== undefined ? [configured, 'the chart config\'s "timeZone"'] : fromEnv ? [fromEnv, TIME_ZONE_ENV] : ['UTC', ''];
    if (zone === 'UTC') return ChartTimeZone.UTC;
    if (!isValidTimezone(zone)) throw new InvalidTimeZoneError(zone, where);
    return new ChartTimeZone(zone);
  }

  /** The zone's wall-clock time at `ms`, as ms since epoch read as UTC. */
  shift(ms: number): number {
    if (!this.parts) return ms;
    const slot = Math.floor(ms / SLOT_MS);
    let offset = this.offsets.get(slot);
    if (offset === undefined) {
      offset = this.offsetAt(slot * SLOT_MS);
      this.offsets.set(slot, offset);
    }
    return ms + offset;
  }

  /** "HH:MM" (or "HH:MM:SS") of `ms` in this zone. */
  clock(ms: number, seconds = false): string {
    return new Date(this.shift(ms)).toISOString().slice(11, seconds ? 19 : 16);
  }

  private offsetAt(ms: number): number {
    const p = Object.fromEntries(this.parts!.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    return wall - ms;
  }
}
