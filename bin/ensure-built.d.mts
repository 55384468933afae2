/** The folder of the build of the current sources (`<root>/dist/<hash>/`), compiled now if missing or stale. */
export function ensureBuilt(opts?: { root?: string; log?: (message: string) => void }): Promise<string>;
