import { Type, type Static } from '@sinclair/typebox';

/**
 * What the spawner and analyzer return and the logger stores: the one source
 * of these shapes, as TypeBox schemas with their `Static<>` types (as
 * core/workflow/workflow-schema.ts does for workflow files). They live in
 * plugins/shared because plugins never import each other: producers and
 * consumers meet here. `kind` lets the logger tell its inputs apart.
 *
 * Objects allow extra properties, so a producer can grow without breaking a
 * consumer that checks an output at run time (it may cross Redis as JSON).
 */

export const ContainerClassSchema = Type.Union([Type.Literal('high'), Type.Literal('low')]);
export type ContainerClass = Static<typeof ContainerClassSchema>;
/** Every container class, in the schema's order. */
export const CONTAINER_CLASSES: readonly ContainerClass[] = ContainerClassSchema.anyOf.map((s) => s.const);

export function isContainerClass(v: unknown): v is ContainerClass {
  return (CONTAINER_CLASSES as readonly unknown[]).includes(v);
}

/** Run ids are never empty (the logger's idempotency key). */
const RunId = () => Type.String({ minLength: 1 });
const NullableNumber = () => Type.Union([Type.Number(), Type.Null()]);

export const SpawnedContainerSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  image: Type.String(),
  class: ContainerClassSchema,
});
export type SpawnedContainer = Static<typeof SpawnedContainerSchema>;

export const SpawnResultSchema = Type.Object({
  kind: Type.Literal('spawn'),
  /** Run id of the spawner run (the logger's idempotency key). */
  runId: RunId(),
  workflow: Type.String(),
  /** ms since epoch */
  time: Type.Number(),
  created: Type.Array(SpawnedContainerSchema),
  /** How many were asked for but not created, and why (maxManaged cap...). */
  skipped: Type.Union([Type.Object({ count: Type.Integer(), reason: Type.String() }), Type.Null()]),
  durationMs: Type.Number(),
});
export type SpawnResult = Static<typeof SpawnResultSchema>;

export const HostMemorySchema = Type.Object({
  totalBytes: Type.Number(),
  freeBytes: Type.Number(),
  availableBytes: Type.Number(),
  usedBytes: Type.Number(),
});
export type HostMemory = Static<typeof HostMemorySchema>;

export const DecisionSchema = Type.Union([Type.Literal('kept'), Type.Literal('killed'), Type.Literal('protected')]);
export type Decision = Static<typeof DecisionSchema>;

export const AnalyzedContainerSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  image: Type.String(),
  class: ContainerClassSchema,
  /** Class came from the label, or from measurement for unlabelled containers. */
  classSource: Type.Union([Type.Literal('label'), Type.Literal('measured')]),
  /** Percent of one core; null when the sample failed. */
  cpuPct: NullableNumber(),
  memBytes: NullableNumber(),
  decision: DecisionSchema,
  reason: Type.String(),
  /** For killed ones: whether the kill succeeded (already gone counts as done). */
  killError: Type.Optional(Type.String()),
});
export type AnalyzedContainer = Static<typeof AnalyzedContainerSchema>;

export const AnalysisResultSchema = Type.Object({
  kind: Type.Literal('analysis'),
  runId: RunId(),
  workflow: Type.String(),
  /** ms since epoch */
  time: Type.Number(),
  hostMemory: HostMemorySchema,
  metricSource: Type.String(),
  dryRun: Type.Boolean(),
  containers: Type.Array(AnalyzedContainerSchema),
  durationMs: Type.Number(),
});
export type AnalysisResult = Static<typeof AnalysisResultSchema>;
