import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../core/workflow/duration.js';

/** Every chart the plugin can draw; also the whitelist of names served over HTTP. */
export const CHART_NAMES = ['memory', 'containers', 'killed', 'live'] as const;
export type ChartName = (typeof CHART_NAMES)[number];

/**
 * The chart job's `config`. Every field has a default: the built-in
 * workflow's chart job has no config at all.
 */
export const ChartsConfigSchema = Type.Object(
  {
    window: Type.String({
      pattern: DURATION_PATTERN,
      default: '1h',
      description: 'Each chart shows records of this last stretch of time, e.g. "1h", "30m", "1d"',
    }),
    charts: Type.Array(Type.Union(CHART_NAMES.map((n) => Type.Literal(n))), {
      uniqueItems: true,
      minItems: 1,
      default: [...CHART_NAMES],
      description: 'Which charts to render: memory (RAM used/free), containers (spawned vs killed per minute), killed (CPU/memory of killed containers), live (kept at the last analysis)',
    }),
    width: Type.Integer({ minimum: 200, maximum: 4000, default: 800, description: 'PNG width, pixels' }),
    height: Type.Integer({ minimum: 150, maximum: 3000, default: 400, description: 'PNG height, pixels' }),
  },
  { additionalProperties: false },
);

export type ChartsConfig = Static<typeof ChartsConfigSchema>;
