import { LABELS } from '../shared/containers/container-labels.js';
import { ContainerClassSchema } from '../shared/records/container-records.js';
import { configWithDefaults } from '../../core/plugin/config-defaults.js';
import { Type, type Static } from '@sinclair/typebox';

/** Memory sizes as "16m", "96MiB", "1g", "512k" or a byte count. */
export const MEMORY_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s*([kKmMgG]([iI]?[bB])?|[bB])?$';
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** Docker refuses memory limits under 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

export function parseMemory(v: string | number): number {
  if (typeof v === 'number') return Math.floor(v);
  const m = new RegExp(MEMORY_PATTERN).exec(v.trim());
  if (!m) throw new Error(`"${v}" is not a memory size like 16m, 1g or 512k`);
  return Math.floor(parseFloat(v) * UNIT[(m[2] ?? '').charAt(0).toLowerCase()]!);
}

const Memory = Type.Union([Type.String({ pattern: MEMORY_PATTERN }), Type.Integer({ minimum: MIN_MEMORY_BYTES })], {
  description: 'Memory limit: "16m", "1g", or bytes (>= 6 MiB, Docker\'s minimum)',
});

export const ImageEntrySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Local image name, e.g. tideflow/cpu-hog or any local image' }),
    class: Type.Union(ContainerClassSchema.anyOf, { description: 'Consumption class the analyzer uses' }),
    cmd: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: "Command overriding the image's CMD" })),
    cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 64, description: 'CPU limit in cores (a CFS quota per period: see cpuLimit in spawner-plugin.ts)' })),
    memory: Type.Optional(Memory),
  },
  { additionalProperties: false },
);
export type ImageEntry = Static<typeof ImageEntrySchema>;

export const DEFAULT_IMAGES: ImageEntry[] = [
  { name: 'tideflow/cpu-hog', class: 'high' },
  { name: 'tideflow/mem-hog', class: 'high' },
  { name: 'tideflow/sleeper', class: 'low' },
  { name: 'tideflow/ticker', class: 'low' },
];

/** Labels the spawner owns; extra `labels` may not set them. */
export const RESERVED_LABELS: string[] = [LABELS.managed, LABELS.workflow, LABELS.class, LABELS.run, LABELS.slot];

export const SpawnerConfigSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0, maximum: 1000, default: 10, description: 'Containers to create per run' }),
    images: Type.Array(ImageEntrySchema, { minItems: 1, default: DEFAULT_IMAGES, description: 'Images to pick from at random' }),
    maxManaged: Type.Integer({ minimum: 0, default: 50, description: 'Never more running managed containers of the workflow than this' }),
    parallelism: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Create+start calls in flight at once' }),
    defaultCpus: Type.Number({ exclusiveMinimum: 0, maximum: 64, default: 0.1, description: 'CPU limit when neither the entry nor the built-in image gives one' }),
    defaultMemory: Type.Union([Type.String({ pattern: MEMORY_PATTERN }), Type.Integer({ minimum: MIN_MEMORY_BYTES })], { default: '32m' }),
    buildImages: Type.Boolean({ default: true, description: 'Build missing tideflow/* workload images on the first run' }),
    labels: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Type.String(), { default: {}, description: 'Extra labels on every container' }),
  },
  { additionalProperties: false },
);
export type SpawnerConfig = Static<typeof SpawnerConfigSchema>;

/** Applies the schema's defaults and validates (the engine does the same on load). */
export function spawnerConfig(partial: Partial<SpawnerConfig> = {}): SpawnerConfig {
  return configWithDefaults(SpawnerConfigSchema, partial, 'spawner');
}

/** What the spawner reads from the environment (core/config/env-settings.ts). */
export const SpawnerSettingsSchema = Type.Object({
  /** Set by `tideflow start --keep-containers`: shutdown leaves the managed containers running. */
  TIDEFLOW_KEEP_CONTAINERS: Type.Optional(Type.Boolean()),
});
