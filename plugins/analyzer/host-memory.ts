import { readFile } from 'node:fs/promises';
import type { HostMemory } from '../shared/records/container-records.js';

export const PROC_MEMINFO = '/proc/meminfo';

/**
 * Parses /proc/meminfo text. `used` = total − available, as free(1) from
 * procps-ng 4 reports it. Kernels older than 3.14 lack MemAvailable: it is
 * then estimated as free + buffers + cached + reclaimable slab.
 */
export function parseMeminfo(text: string): HostMemory {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line.trim());
    if (m) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  const free = kb.get('MemFree');
  if (total === undefined || free === undefined) throw new Error('meminfo lacks MemTotal or MemFree');
  const available = kb.get('MemAvailable') ?? Math.min(total, free + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0) + (kb.get('SReclaimable') ?? 0));
  return {
    totalBytes: total * 1024,
    freeBytes: free * 1024,
    availableBytes: available * 1024,
    usedBytes: Math.max(0, total - available) * 1024,
  };
}

export async function readHostMemory(path: string = PROC_MEMINFO): Promise<HostMemory> {
  return parseMeminfo(await readFile(path, 'utf8'));
}
