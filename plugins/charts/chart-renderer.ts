import { existsSync } from 'node:fs';
import { rename, unlink, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import { CHART_FONT } from './chart-specs.js';

// Loaded on the first render, not with the plugin: commands that only read
// plugin schemas (`tideflow validate`) start without them.
const chartLibraries = () => Promise.all([import('vega'), import('vega-lite')]);

export const DEFAULT_FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'];

export class MissingFontError extends Error {
  constructor(missing: string[]) {
    super(
      `charts need the DejaVu fonts (${missing.join(', ')} not found); install them with ` +
        '`apt-get install fonts-dejavu-core` (resvg draws no text at all without a named font file)',
    );
    this.name = 'MissingFontError';
  }
}

export interface RenderedChart {
  svg: string;
  png: Buffer;
  width: number;
  height: number;
  /** RGBA pixels of the PNG, for checks. */
  pixels?: Buffer;
}

export interface RenderOptions {
  /** PNG pixels per SVG (CSS) pixel; default 1. */
  pixelRatio?: number;
  keepPixels?: boolean;
}

/**
 * Vega-Lite -> vega View (headless, renderer none) -> SVG -> resvg PNG.
 * Fonts are named explicitly: resvg silently draws no text otherwise, and
 * not loading system fonts keeps every render identical and fast.
 */
export class ChartRenderer {
  private readonly fontFiles: string[];

  constructor(fontDir = process.env.TIDEFLOW_FONT_DIR ?? DEFAULT_FONT_DIR) {
    this.fontFiles = FONT_FILES.map((f) => path.join(fontDir, f));
  }

  /** Throws MissingFontError naming the apt package when the fonts are absent. */
  checkFonts(): void {
    const missing = this.fontFiles.filter((f) => !existsSync(f));
    if (missing.length > 0) throw new MissingFontError(missing);
  }

  async toSvg(spec: TopLevelSpec): Promise<string> {
    const [vega, { compile }] = await chartLibraries();
    // Vega-Lite warnings (e.g. dropped properties) would go to the console on every render.
    const view = new vega.View(vega.parse(compile(spec, { logger: vega.logger(vega.Error) }).spec), { renderer: 'none' });
    try {
      return await view.toSVG();
    } finally {
      view.finalize();
    }
  }

  /** `pixelRatio` 2 draws every CSS pixel of the SVG as 2x2 PNG pixels (sharp on high-DPI screens). */
  svgToPng(svg: string, opts: RenderOptions = {}): Omit<RenderedChart, 'svg'> {
    this.checkFonts();
    const resvg = new Resvg(svg, {
      font: { fontFiles: this.fontFiles, loadSystemFonts: false, defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
      background: 'white',
      fitTo: { mode: 'zoom', value: opts.pixelRatio ?? 1 },
    });
    const img = resvg.render();
    return { png: img.asPng(), width: img.width, height: img.height, ...(opts.keepPixels ? { pixels: img.pixels } : {}) };
  }

  async render(spec: TopLevelSpec, opts: RenderOptions = {}): Promise<RenderedChart> {
    this.checkFonts();
    const svg = await this.toSvg(spec);
    return { svg, ...this.svgToPng(svg, opts) };
  }
}

/**
 * Writes a file so a reader sees the old or the new content, never a half:
 * a temp file in the same directory, then rename (atomic on one filesystem).
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
