#!/usr/bin/env node
// Compiles core/, plugins/ and cli/ to JavaScript once per version of the sources,
// so the `tideflow` command starts without compiling TypeScript. A build is
// named by a hash of everything that shapes it (each source's path and
// content, tsconfig.json, package.json, the compiler's version), so changed
// sources always get a fresh build and stale code never runs. esbuild
// transpiles file by file, like tsx did (no type check: `npm run typecheck`).
// Plain Node: it runs before anything else.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['core', 'plugins', 'cli'];
/** Builds kept besides the current one (a running engine may still import from an older one). */
const KEEP_OLD_BUILDS = 2;
/** Bump when the way of building changes. */
const BUILD_FORMAT = '1';

/** Files the sources load at run time beside themselves (dashboard panels, pages), copied into the build as they are. */
const ASSET = /\.(js|mjs|css|html)$/;

function sources(root, pattern = /\.(m|c)?ts$/) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (pattern.test(entry.name) && !/\.d\.(m|c)?ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) {
        files.push(full);
      }
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(path.join(root, d))) walk(path.join(root, d));
  return files.sort();
}

function buildId(root, files) {
  const h = createHash('sha256').update(`format ${BUILD_FORMAT}\n`);
  const esbuildPkg = path.join(root, 'node_modules/esbuild/package.json');
  h.update(existsSync(esbuildPkg) ? JSON.parse(readFileSync(esbuildPkg, 'utf8')).version : 'no-esbuild');
  for (const f of [path.join(root, 'tsconfig.json'), path.join(root, 'package.json'), ...files]) {
    h.update(`\0${path.relative(root, f)}\0`).update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

function pruneOldBuilds(dist, current) {
  const builds = readdirSync(dist, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== current)
    .map((d) => ({ dir: path.join(dist, d.name), mtime: statSync(path.join(dist, d.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  // Half-written builds of crashed processes (name.tmp-pid) and builds beyond the newest few.
  const stale = builds.filter((b, i) => b.dir.includes('.tmp-') ? Date.now() - b.mtime > 10 * 60_000 : i >= KEEP_OLD_BUILDS);
  for (const b of stale) rmSync(b.dir, { recursive: true, force: true });
}

/**
 * The folder of the build of the current sources (dist/<hash>/), built now if
 * missing. Safe when several processes start at once: each builds into its
 * own temporary folder and the first rename wins.
 */
export async function ensureBuilt({ root = ROOT, log = (m) => console.error(m) } = {}) {
  const files = sources(root);
  const assets = sources(root, ASSET);
  const id = buildId(root, [...files, ...assets]);
  const dist = path.join(root, 'dist');
  const out = path.join(dist, id);
  if (existsSync(path.join(out, '.complete'))) return out;

  const t0 = Date.now();
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const esbuild = await import('esbuild');
  try {
    await esbuild.build({
      entryPoints: files,
      outdir: tmp,
      outbase: root,
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // experimentalDecorators (tsyringe) comes from here, as for tsx and tsc.
      tsconfig: path.join(root, 'tsconfig.json'),
      sourcemap: true,
      logLevel: 'silent',
    });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const messages = (err.errors ?? []).map((e) => `${e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : ''}${e.text}`);
    throw new Error(`[tideflow] compiling the sources failed:\n  ${messages.length ? messages.join('\n  ') : err.message}`);
  }
  for (const a of assets) {
    const to = path.join(tmp, path.relative(root, a));
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(a, to);
  }
  writeFileSync(path.join(tmp, '.complete'), `${new Date().toISOString()} ${files.length} files\n`);
  try {
    renameSync(tmp, out);
  } catch (err) {
    // Another process finished the same build first: use it.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(out, '.complete'))) throw err;
  }
  try {
    pruneOldBuilds(dist, id);
  } catch {
    // best effort: a concurrent process may be pruning too
  }
  log(`[tideflow] compiled ${files.length} source files in ${Date.now() - t0} ms (${path.relative(root, out)})`);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureBuilt().then(
    (out) => {
      // `npm pack` (prepack) ships exactly the build of the packed sources, so an installed tideflow never compiles.
      if (process.argv.includes('--only-this-build')) {
        for (const d of readdirSync(path.dirname(out))) if (path.join(path.dirname(out), d) !== out && !d.includes('.tmp-')) rmSync(path.join(path.dirname(out), d), { recursive: true, force: true });
      }
      console.log(out);
    },
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
