import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../util/project-root.js';

const TYPESCRIPT_FILE = /\.(m|c)?ts$/;
let typeScriptImports: Promise<void> | undefined;

/**
 * Lets Node import .ts files from now on (tsx's loader with the project's
 * tsconfig: tsyringe needs experimentalDecorators). Registered only when a
 * TypeScript plugin is loaded, so the compiled CLI starts without it; not
 * needed when this module itself runs as TypeScript (tsx, vitest).
 */
function enableTypeScriptImports(): Promise<void> {
  if (TYPESCRIPT_FILE.test(new URL(import.meta.url).pathname)) return Promise.resolve();
  typeScriptImports ??= import('tsx/esm/api').then(({ register }) => {
    register({ tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json') });
  });
  return typeScriptImports;
}

/** A file path (absolute, or relative to the working directory) as a URL; a package name as is. */
function toSpecifier(name: string): string {
  return name.startsWith('.') || path.isAbsolute(name) ? pathToFileURL(path.resolve(name)).href : name;
}

/**
 * Imports an external plugin module: a package name, or a path to a .js or
 * .ts file (a TypeScript entry is compiled on the fly).
 */
export async function importPluginModule(name: string): Promise<unknown> {
  const specifier = toSpecifier(name);
  let resolved = specifier;
  try {
    resolved = import.meta.resolve(specifier);
  } catch {
    // Not resolvable here: the import below reports it.
  }
  if (TYPESCRIPT_FILE.test(new URL(resolved, 'file:///').pathname)) await enableTypeScriptImports();
  return import(specifier);
}
