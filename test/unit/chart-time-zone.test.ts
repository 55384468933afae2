import { describe, expect, it } from 'vitest';
import { ChartTimeZone, InvalidTimeZoneError, TIME_ZONE_ENV } from '../../plugins/charts/chart-time-zone.js';
import { containerLabel } from '../../plugins/charts/chart-specs.js';

describe('ChartTimeZone', () => {
  it('is UTC by default and leaves times as they are', () => {
    const tz = ChartTimeZone.resolve(undefined, {});
    expect(tz.name).toBe('UTC');
    expect(tz.shift(1_795_175_430_000)).toBe(1_795_175_430_000);
    expect(tz.clock(Date.UTC(2026, 10, 20, 12, 5, 30), true)).toBe('12:05:30');
  });

  it('takes the config key first, then TIDEFLOW_TZ', () => {
    expect(ChartTimeZone.resolve(undefined, { [TIME_ZONE_ENV]: 'Asia/Tokyo' }).name).toBe('Asia/Tokyo');
    expect(ChartTimeZone.resolve('Europe/Paris', { [TIME_ZONE_ENV]: 'Asia/Tokyo' }).name).toBe('Europe/Paris');
    expect(ChartTimeZone.resolve(undefined, { [TIME_ZONE_ENV]: '  ' }).name).toBe('UTC');
  });

  it('shows wall-clock time on both sides of a daylight-saving change', () => {
    const paris = ChartTimeZone.resolve('Europe/Paris', {});
    // 2026-03-29: 01:00 UTC the clocks go from 02:00 CET to 03:00 CEST.
    expect(paris.clock(Date.UTC(2026, 2, 29, 0, 59), false)).toBe('01:59');
    expect(paris.clock(Date.UTC(2026, 2, 29, 1, 0), false)).toBe('03:00');
    expect(paris.clock(Date.UTC(2026, 10, 20, 12, 0, 30), true)).toBe('13:00:30');
    // Half-hour zones too.
    expect(ChartTimeZone.resolve('Asia/Kolkata', {}).clock(Date.UTC(2026, 10, 20, 12, 0), false)).toBe('17:30');
  });

  it('rejects a zone that is not IANA, saying where it came from', () => {
    expect(() => ChartTimeZone.resolve(undefined, { [TIME_ZONE_ENV]: 'Mars/Base' })).toThrow(InvalidTimeZoneError);
    expect(() => ChartTimeZone.resolve(undefined, { [TIME_ZONE_ENV]: 'Mars/Base' })).toThrow(/TIDEFLOW_TZ is "Mars\/Base", which is not an IANA time zone/);
    expect(() => ChartTimeZone.resolve('GMT+25', {})).toThrow(/the chart config's "timeZone" is "GMT\+25"/);
  });
});

describe('containerLabel', () => {
  const row = { containerId: null, name: null, image: null, pid: null };

  it('names a spawner container by image, slot and short id, never the workflow name', () => {
    const id = 'a1b2c3d4e5f6'.padEnd(64, '0');
    expect(containerLabel({ ...row, containerId: id, name: 'tf-container-lifecycle-high-bcede123-7', image: 'tideflow/cpu-hog' })).toBe('cpu-hog #7 · a1b2c3d4e5f6');
    expect(containerLabel({ ...row, containerId: id, name: 'tf-wf-low-00000000-0', image: 'registry.local:5000/team/sleeper:latest' })).toBe('sleeper #0 · a1b2c3d4e5f6');
    expect(containerLabel({ ...row, containerId: id, name: 'tf-wf-low-00000000-0', image: 'busybox:1.36' })).toBe('busybox:1.36 #0 · a1b2c3d4e5f6');
  });

  it('falls back to the name and the PID for course-format rows', () => {
    expect(containerLabel({ ...row, name: 'sleep', pid: 4242 })).toBe('sleep · pid 4242');
    expect(containerLabel({ ...row, name: 'web-1', containerId: 'f00dfeedbeef00' })).toBe('web-1 · f00dfeedbeef');
    expect(containerLabel(row)).toBe('unnamed');
  });
});
