import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules, checked on the real import graph of the sources:
 * - core/ is a workflow engine: it imports no plugin, not the CLI, and none
 *   of the container domain's libraries;
 * - a plugin imports no other plugin; what they share lives in plugins/shared/,
 *   which imports no plugin;
 * - core's folders import each other without cycles.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const DOMAIN_PACKAGES = ['dockerode', 'kysely', 'better-sqlite3', 'pg', '@resvg/resvg-js', 'vega', 'vega-lite'];

interface Edge {
  from: string;
  to: string;
}

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => `${dir}/${f.split(path.sep).join('/')}`)
    .filter((f) => /\.(ts|js)$/.test(f) && !/\.(test|d)\.ts$/.test(f));
}

/**
 * Every import of every source, type-only and dynamic ones included (a type
 * import is a dependency of the design too), read by TypeScript's own
 * pre-processor; relative ones resolved to files, the rest kept as packages.
 */
async function importGraph(): Promise<{ files: string[]; edges: Edge[] }> {
  const files = ['core', 'plugins', 'cli'].flatMap(sources);
  const edges: Edge[] = [];
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        edges.push({ from: file, to: `package:${spec}` });
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const resolved = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, `${target}/index.ts`].find((f) => existsSync(path.join(ROOT, f)));
      expect(resolved, `${file}: import "${spec}" resolves to no file`).toBeDefined();
      edges.push({ from: file, to: resolved! });
    }
  }
  return { files, edges };
}

const graph = importGraph();
const packageName = (spec: string) => spec.replace(/^package:/, '').split('/').slice(0, spec.startsWith('package:@') ? 2 : 1).join('/');
const pluginOf = (file: string) => file.match(/^plugins\/([^/]+)\//)?.[1];
const coreFolder = (file: string) => file.match(/^core\/([^/]+)\//)?.[1] ?? (file.startsWith('core/') ? '.' : undefined);

describe('architecture (import rules on the real import graph)', () => {
  it('sees the whole source tree', async () => {
    const { files } = await graph;
    expect(files.filter((f) => f.startsWith('core/')).length).toBeGreaterThan(50);
    for (const p of ['spawner', 'analyzer', 'logger', 'charts', 'shared']) expect(files.some((f) => pluginOf(f) === p), p).toBe(true);
  });

  it('core imports no plugin, not the CLI, and no container-domain library', async () => {
    const { edges } = await graph;
    const bad = edges
      .filter((e) => e.from.startsWith('core/'))
      .filter((e) => e.to.startsWith('plugins/') || e.to.startsWith('cli/') || (e.to.startsWith('package:') && DOMAIN_PACKAGES.includes(packageName(e.to))))
      .map((e) => `${e.from} -> ${e.to.replace(/^package:/, '')}`);
    expect(bad).toEqual([]);
  });

  it('no plugin imports another plugin; plugins/shared imports none', async () => {
    const { edges } = await graph;
    const bad = edges
      .filter((e) => pluginOf(e.from) && pluginOf(e.to) && pluginOf(e.from) !== pluginOf(e.to) && pluginOf(e.to) !== 'shared')
      .map((e) => `${e.from} -> ${e.to}`);
    expect(bad).toEqual([]);
  });

  it("core's folders have no import cycles", async () => {
    const { edges } = await graph;
    const deps = new Map<string, Set<string>>();
    const why = new Map<string, string>();
    for (const e of edges) {
      const a = coreFolder(e.from);
      const b = coreFolder(e.to);
      if (!a || !b || a === b) continue;
      if (!deps.has(a)) deps.set(a, new Set());
      deps.get(a)!.add(b);
      why.set(`${a}>${b}`, `${e.from} -> ${e.to}`);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (n: string, stack: string[]) => {
      state.set(n, 'open');
      for (const m of deps.get(n) ?? []) {
        if (state.get(m) === 'open') {
          const loop = [...stack.slice(stack.indexOf(m)), n, m];
          cycles.push(loop.slice(0, -1).map((x, i) => why.get(`${x}>${loop[i + 1]}`)).join('; '));
        } else if (!state.has(m)) visit(m, [...stack, n]);
      }
      state.set(n, 'done');
    };
    for (const n of [...deps.keys()].sort()) if (!state.has(n)) visit(n, []);
    expect(cycles).toEqual([]);
  });
});
