import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../core/workflow/duration.js';
import { isValidTimezone } from '../../core/workflow/schema-validator.js';

// The engine checks plugin configs with Ajv (which knows "timezone"); direct
// calls check them with TypeBox, which must be told the format too.
if (!FormatRegistry.Has('timezone')) FormatRegistry.Set('timezone', isValidTimezone);

/** Every chart the plugin can draw; also the whitelist of names served over HTTP. */
export const CHART_NAMES = ['memory', 'containers', 'killed', 'live', 'history'] as const;
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
      description: 'Which charts to render: memory (RAM used/free, kills per minute), containers (spawned vs killed per minute), killed (CPU/memory of killed containers), live (kept at the last analysis), history (each container\'s CPU and memory over its life, kills marked)',
    }),
    width: Type.Integer({ minimum: 200, maximum: 4000, default: 800, description: 'Chart width in CSS pixels (the PNG has width x pixelRatio pixels)' }),
    height: Type.Integer({ minimum: 150, maximum: 3000, default: 400, description: 'Chart height in CSS pixels (the PNG has height x pixelRatio pixels)' }),
    pixelRatio: Type.Number({ minimum: 1, maximum: 4, default: 2, description: 'PNG pixels per CSS pixel: 2 stays sharp on high-DPI screens and when the dashboard scales a chart down' }),
    timeZone: Type.Optional(
      Type.String({ format: 'timezone', description: 'IANA time zone of the times shown, e.g. "Europe/Paris"; default: TIDEFLOW_TZ, else UTC' }),
    ),
  },
  { additionalProperties: false },
);

export type ChartsConfig = Static<typeof ChartsConfigSchema>;
