#!/usr/bin/env node
// The `tideflow` command: makes sure dependencies are installed and the
// sources compiled (once per change of the sources, see ensure-built.mjs),
// then runs the compiled CLI. Stack traces point at the .ts sources.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt } from './ensure-built.mjs';
import { ensureDeps } from './ensure-deps.mjs';

ensureDeps();
let build;
try {
  build = await ensureBuilt();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
process.setSourceMapsEnabled(true);
await import(pathToFileURL(path.join(build, 'cli/main.js')).href);
