import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { CHART_NAMES, type ChartName } from './charts-config.js';
import { CHART_TITLES } from './chart-specs.js';

/** URL extension -> file suffix and content type. `.json` is the Vega-Lite spec. */
const FORMATS = {
  png: { suffix: '.png', type: 'image/png' },
  svg: { suffix: '.svg', type: 'image/svg+xml' },
  json: { suffix: '.vl.json', type: 'application/json; charset=utf-8' },
} as const;
type Format = keyof typeof FORMATS;

/** The only file names served: whitelist, so no path a client sends ever reaches the filesystem. */
const FILE_RE = new RegExp(`^(${CHART_NAMES.join('|')})\\.(png|svg|json)$`);

export function chartFile(chartsDir: string, name: ChartName, format: Format): string {
  return path.join(chartsDir, `${name}${FORMATS[format].suffix}`);
}

const FileInfo = Type.Object({ url: Type.String(), bytes: Type.Integer() });
const ChartInfo = Type.Object({
  name: Type.String(),
  title: Type.String(),
  time: Type.Number({ description: 'When the PNG was last written, ms since epoch' }),
  at: Type.String({ description: 'time as ISO-8601' }),
  png: FileInfo,
  svg: Type.Optional(FileInfo),
  spec: Type.Optional(FileInfo),
});

const notFound = { statusCode: 404, error: 'Not Found', message: 'no such chart' };
const NotFoundBody = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() }, { additionalProperties: true });

/**
 * GET /api/charts (rendered charts with time and size) and
 * GET /charts/<name>.png|.svg|.json for the four chart names only.
 */
export function chartsRoutes(chartsDir: () => string): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/charts',
      {
        schema: {
          operationId: 'listCharts',
          tags: ['charts'],
          summary: 'Rendered charts with their time and size',
          response: { 200: Type.Object({ charts: Type.Array(ChartInfo) }) },
        },
      },
      async () => {
        const dir = chartsDir();
        const charts = [];
        for (const name of CHART_NAMES) {
          const png = await stat(chartFile(dir, name, 'png')).catch(() => undefined);
          if (!png) continue;
          const info = async (format: Format) => {
            const s = await stat(chartFile(dir, name, format)).catch(() => undefined);
            return s ? { url: `/charts/${name}.${format}`, bytes: s.size } : undefined;
          };
          charts.push({
            name,
            title: CHART_TITLES[name],
            time: png.mtimeMs,
            at: png.mtime.toISOString(),
            png: { url: `/charts/${name}.png`, bytes: png.size },
            svg: await info('svg'),
            spec: await info('json'),
          });
        }
        return { charts };
      },
    );

    app.get<{ Params: { file: string } }>(
      '/charts/:file',
      {
        schema: {
          operationId: 'getChartFile',
          tags: ['charts'],
          summary: 'A chart as PNG, SVG, or its Vega-Lite spec (.json)',
          description: `file is <name>.png|.svg|.json with name one of ${CHART_NAMES.join(', ')}; anything else is 404.`,
          // No length or pattern here: anything that is not a chart file must be a 404, not a 400.
          params: Type.Object({ file: Type.String() }),
          response: {
            200: {
              description: 'The chart file; its media type follows the extension',
              content: {
                'image/png': { schema: Type.String({ format: 'binary' }) },
                'image/svg+xml': { schema: Type.String() },
                'application/json': { schema: Type.Object({}, { additionalProperties: true, description: 'Vega-Lite spec' }) },
              },
            },
            404: { description: 'Not a chart file name, or not rendered yet', ...NotFoundBody },
          },
        },
      },
      async (req, reply) => {
        const m = FILE_RE.exec(req.params.file);
        if (!m) return reply.status(404).send(notFound);
        const format = m[2] as Format;
        // Whole-file read: charts are tens of KB, and a rename mid-read cannot tear what we hold.
        const body = await readFile(chartFile(chartsDir(), m[1] as ChartName, format)).catch(() => undefined);
        if (!body) return reply.status(404).send({ ...notFound, message: 'chart not rendered yet' });
        void reply
          .header('content-type', FORMATS[format].type)
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff');
        // An SVG opened directly must not run anything.
        if (format === 'svg') void reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
        return reply.send(body);
      },
    );
  };
}
