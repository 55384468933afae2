import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface RedoclyProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location?: Array<{ pointer?: string }>;
}

export interface RedoclyReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: RedoclyProblem[];
}

/**
 * `redocly lint` (the devDependency @redocly/cli) on a document file with the
 * project's redocly.yaml, as a user or CI would run it. Fails with the command
 * to run when the tool is not installed.
 */
export async function redoclyLint(file: string): Promise<RedoclyReport> {
  const bin = path.join(ROOT, 'node_modules/.bin/redocly');
  if (!existsSync(bin)) throw new Error(`redocly is not installed (${bin}): run \`npm install\` (it is a devDependency)`);
  // Exit status 1 means "problems found"; the JSON report says which.
  const out = await run(bin, ['lint', file, '--config', path.join(ROOT, 'redocly.yaml'), '--format', 'json'], {
    cwd: ROOT,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    if (!err.stdout) throw new Error(`redocly lint failed to run: ${err.message}\n${err.stderr ?? ''}`);
    return { stdout: err.stdout };
  });
  return JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as RedoclyReport;
}

/** TypeScript declarations of a document, as `openapi-typescript` generates them. */
export async function generateTypes(doc: object): Promise<string> {
  return astToString(await openapiTS(doc as Parameters<typeof openapiTS>[0]));
}

/**
 * A throwaway ESM TypeScript project in `dir` that resolves this repo's
 * node_modules (so `openapi-fetch` imports as it would in a user's project).
 */
export function writeTsProject(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  if (!existsSync(path.join(dir, 'node_modules'))) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
}

/**
 * Type-checks `entry` strictly with the TypeScript compiler API and emits
 * JavaScript to `<dir>/out`. Returns the formatted diagnostics ('' when clean).
 */
export function compileStrict(dir: string, entry: string): string {
  const program = ts.createProgram([path.join(dir, entry)], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUnusedLocals: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
    outDir: path.join(dir, 'out'),
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => dir,
    getNewLine: () => '\n',
  });
}
