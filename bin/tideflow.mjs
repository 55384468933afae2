#!/usr/bin/env node
// The `tideflow` command: makes sure dependencies are installed, then runs the
// TypeScript CLI through tsx (no build step). The project's tsconfig is named
// explicitly: tsyringe needs its experimentalDecorators wherever we run from.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
ensureDeps();
const { register } = await import('tsx/esm/api');
register({ tsconfig: path.join(root, 'tsconfig.json') });
await import(pathToFileURL(path.join(root, 'core/cli/main.ts')).href);
