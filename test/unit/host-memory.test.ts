import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMeminfo, readHostMemory } from '../../plugins/analyzer/host-memory.js';

const MODERN = `MemTotal:       24576000 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
Buffers:          200000 kB
Cached:          3000000 kB
SwapCached:            0 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`;

const OLD = `MemTotal:        2000000 kB
MemFree:          500000 kB
Buffers:          100000 kB
Cached:           300000 kB
SReclaimable:      50000 kB
`;

const dir = mkdtempSync(path.join(tmpdir(), 'tf-meminfo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('host memory', () => {
  it('parses total, free, available and used (total - available) in bytes', () => {
    expect(parseMeminfo(MODERN)).toEqual({
      totalBytes: 24576000 * 1024,
      freeBytes: 1000000 * 1024,
      availableBytes: 20000000 * 1024,
      usedBytes: 4576000 * 1024,
    });
  });

  it('estimates available on kernels without MemAvailable', () => {
    const m = parseMeminfo(OLD);
    expect(m.availableBytes).toBe((500000 + 100000 + 300000 + 50000) * 1024);
    expect(m.usedBytes).toBe((2000000 - 950000) * 1024);
  });

  it('rejects text without MemTotal', () => {
    expect(() => parseMeminfo('MemFree: 1 kB\n')).toThrow(/MemTotal/);
  });

  it('reads an injected path', async () => {
    const f = path.join(dir, 'meminfo');
    writeFileSync(f, MODERN);
    expect((await readHostMemory(f)).totalBytes).toBe(24576000 * 1024);
  });

  it('reads the real /proc/meminfo', async () => {
    const m = await readHostMemory();
    expect(m.totalBytes).toBeGreaterThan(0);
    expect(m.availableBytes).toBeLessThanOrEqual(m.totalBytes);
    expect(m.usedBytes + m.availableBytes).toBe(m.totalBytes);
  });
});
