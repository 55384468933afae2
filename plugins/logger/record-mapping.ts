import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  AnalysisResultSchema,
  AnalyzedContainerSchema,
  SpawnResultSchema,
  type AnalysisResult,
  type SpawnResult,
} from '../shared/records/container-records.js';
import type { NewRecord, RecordBatch } from '../shared/store/record-store.js';

/**
 * The parts of the spawner's and analyzer's results (plugins/shared/records)
 * the logger stores, checked at run time: the log job's input crosses Redis
 * as JSON, so the types alone prove nothing. Views of the shared schemas
 * without the fields the logger does not read (durations, metric source,
 * class source...), so an input lacking only those is still stored; a
 * missing `dryRun` reads as false. Extra fields are allowed so producers can grow.
 */
const LoggedSpawnSchema = Type.Pick(SpawnResultSchema, ['kind', 'runId', 'workflow', 'time', 'created']);

const LoggedAnalysisSchema = Type.Composite([
  Type.Pick(AnalysisResultSchema, ['kind', 'runId', 'workflow', 'time']),
  Type.Partial(Type.Pick(AnalysisResultSchema, ['dryRun'])),
  Type.Pick(AnalysisResultSchema, ['hostMemory']),
  Type.Object({ containers: Type.Array(Type.Omit(AnalyzedContainerSchema, ['classSource'])) }),
]);

// Compiled once: the log job runs every few seconds and the interpreted check costs ~10x more.
const checkSpawn = TypeCompiler.Compile(LoggedSpawnSchema);
const checkAnalysis = TypeCompiler.Compile(LoggedAnalysisSchema);

/** Why `input` is not a valid result of its claimed kind, as "path: message" lines; empty if valid. */
export function inputProblems(input: unknown): string[] {
  const kind = (input as { kind?: unknown } | null)?.kind;
  const check = kind === 'spawn' ? checkSpawn : kind === 'analysis' ? checkAnalysis : undefined;
  if (!check || check.Check(input)) return [];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of check.Errors(input)) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    out.push(`${e.path || '/'}: ${e.message}`);
    if (out.length >= 5) break;
  }
  return out;
}

export function spawnBatch(r: SpawnResult): RecordBatch {
  return {
    source: r.runId,
    sourceKind: 'spawn',
    workflow: r.workflow,
    time: r.time,
    records: r.created.map((c) => ({ kind: 'spawned', time: r.time, containerId: c.id, name: c.name, image: c.image, class: c.class })),
  };
}

/**
 * One memory row for the host, one `killed` row per killed container and one
 * `kept` row per kept or protected one (the reason says which). A dry run
 * kills nothing, so its would-be kills are stored as kept, reason prefixed.
 */
export function analysisBatch(r: AnalysisResult): RecordBatch {
  const m = r.hostMemory;
  const records: NewRecord[] = [
    { kind: 'memory', time: r.time, totalBytes: m.totalBytes, freeBytes: m.freeBytes, availableBytes: m.availableBytes, usedBytes: m.usedBytes },
  ];
  for (const c of r.containers) {
    const killed = c.decision === 'killed' && !r.dryRun;
    const reason = c.decision === 'killed' && r.dryRun ? `dry run, would kill: ${c.reason}` : c.decision === 'protected' ? `protected: ${c.reason}` : c.reason;
    records.push({
      kind: killed ? 'killed' : 'kept',
      time: r.time,
      containerId: c.id,
      name: c.name,
      image: c.image,
      class: c.class,
      cpuPct: c.cpuPct,
      memBytes: c.memBytes,
      reason,
      killError: c.killError ?? null,
    });
  }
  return { source: r.runId, sourceKind: 'analysis', workflow: r.workflow, time: r.time, records };
}
