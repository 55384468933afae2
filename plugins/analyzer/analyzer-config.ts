import { configWithDefaults } from '../../core/plugin/config-defaults.js';
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../core/workflow/duration.js';

export const AnalyzerConfigSchema = Type.Object(
  {
    keep: Type.Object(
      {
        high: Type.Integer({ minimum: 0, default: 2, description: 'Highest-consuming high-class containers kept' }),
        low: Type.Integer({ minimum: 0, default: 3, description: 'Lowest-consuming low-class containers kept' }),
      },
      { additionalProperties: false, default: { high: 2, low: 3 } },
    ),
    metricSource: Type.Union([Type.Literal('auto'), Type.Literal('cgroup'), Type.Literal('docker'), Type.Literal('kernel')], {
      default: 'auto',
      description: 'auto: kernel module if loaded, else cgroup files (local engine), else the Docker stats API',
    }),
    sampleWindow: Type.String({ pattern: DURATION_PATTERN, default: '1s', description: 'Time between the two CPU readings' }),
    maxKillsPerRun: Type.Optional(Type.Integer({ minimum: 0, description: 'Cap on kills per run (default: no cap)' })),
    dryRun: Type.Boolean({ default: false, description: 'Decide and report, kill nothing' }),
    killMethod: Type.Union([Type.Literal('auto'), Type.Literal('cgroup'), Type.Literal('docker')], {
      default: 'auto',
      description:
        'auto: SIGKILL through the container cgroup (local engine, cgroup found), else the Docker API; cgroup: same, but a host where it cannot work is a config error; docker: remove({force:true}) only',
    }),
    killParallelism: Type.Integer({ minimum: 1, maximum: 200, default: 16, description: 'Docker API kill/remove calls in flight at once' }),
    statsParallelism: Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Docker stats calls in flight at once (docker source)' }),
    classify: Type.Object(
      {
        highCpuPct: Type.Number({ minimum: 0, default: 10, description: 'Unlabelled containers at or over this CPU% are high' }),
        highMemMiB: Type.Number({ minimum: 0, default: 32, description: 'Unlabelled containers at or over this memory are high' }),
      },
      { additionalProperties: false, default: { highCpuPct: 10, highMemMiB: 32 } },
    ),
    killClaimTtl: Type.String({
      pattern: DURATION_PATTERN,
      default: '10m',
      description:
        'How long a kill claim (Redis, per container id) is kept: other analyses skip the container meanwhile. Must outlast the time Docker takes to stop listing a killed container',
    }),
    cgroupRoot: Type.Optional(Type.String({ description: 'cgroup mount root (default /sys/fs/cgroup)' })),
    meminfoPath: Type.Optional(
      Type.String({ minLength: 1, description: "Host memory file read at each run (default /proc/meminfo), e.g. the host's /proc mounted elsewhere" }),
    ),
  },
  { additionalProperties: false },
);
export type AnalyzerConfig = Static<typeof AnalyzerConfigSchema>;

/** Applies the schema's defaults and validates (the engine does the same on load). */
export function analyzerConfig(partial: Partial<AnalyzerConfig> = {}): AnalyzerConfig {
  return configWithDefaults(AnalyzerConfigSchema, partial, 'analyzer');
}
