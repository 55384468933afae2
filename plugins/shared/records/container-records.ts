/**
 * What the spawner and analyzer return and the logger stores. They live in
 * core because plugins never import each other: producers and consumers meet
 * here. `kind` lets the logger tell its inputs apart.
 */

export type ContainerClass = 'high' | 'low';

export interface SpawnedContainer {
  id: string;
  name: string;
  image: string;
  class: ContainerClass;
}

export interface SpawnResult {
  kind: 'spawn';
  /** Run id of the spawner run (the logger's idempotency key). */
  runId: string;
  workflow: string;
  /** ms since epoch */
  time: number;
  created: SpawnedContainer[];
  /** How many were asked for but not created, and why (maxManaged cap...). */
  skipped: { count: number; reason: string } | null;
  durationMs: number;
}

export interface HostMemory {
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  usedBytes: number;
}

export type Decision = 'kept' | 'killed' | 'protected';

export interface AnalyzedContainer {
  id: string;
  name: string;
  image: string;
  class: ContainerClass;
  /** Class came from the label, or from measurement for unlabelled containers. */
  classSource: 'label' | 'measured';
  /** Percent of one core; null when the sample failed. */
  cpuPct: number | null;
  memBytes: number | null;
  decision: Decision;
  reason: string;
  /** For killed ones: whether the kill succeeded (already gone counts as done). */
  killError?: string;
}

export interface AnalysisResult {
  kind: 'analysis';
  runId: string;
  workflow: string;
  time: number;
  hostMemory: HostMemory;
  metricSource: string;
  dryRun: boolean;
  containers: AnalyzedContainer[];
  durationMs: number;
}
