/**
 * Bounds on a run's input (a manual trigger's `input`, from the API or the
 * CLI). The input is stored in Redis with the BullMQ job and handed to the
 * plugin as is; a deeply nested value breaks the JSON encoders on its way
 * (Redis' Lua cjson stops at 1000 levels) and a huge one costs every reader.
 * Checked before anything is written, so a refused input leaves no run.
 */
export const MAX_INPUT_DEPTH = 64;
/** Serialised JSON size, bytes. */
export const MAX_INPUT_BYTES = 256 * 1024;

/** A run input outside the bounds: 400 (too deep, not JSON) or 413 (too large). */
export class RunInputError extends Error {
  constructor(
    readonly statusCode: 400 | 413,
    /** JSON pointer of the offending part, relative to the input ('' = the input itself). */
    readonly pointer: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunInputError';
  }
}

const escapePointer = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Throws RunInputError when `input` nests deeper than MAX_INPUT_DEPTH, holds a
 * value JSON cannot carry, or serialises to more than MAX_INPUT_BYTES.
 * Iterative, so a 10,000-level value cannot overflow the stack here.
 */
export function checkRunInput(input: unknown): void {
  if (input === undefined) return;
  const stack: Array<{ value: unknown; depth: number; pointer: string }> = [{ value: input, depth: 0, pointer: '' }];
  let visited = 0;
  while (stack.length > 0) {
    const { value, depth, pointer } = stack.pop()!;
    if (++visited > MAX_INPUT_BYTES) throw new RunInputError(413, '', `input has more than ${MAX_INPUT_BYTES} values`);
    const t = typeof value;
    if (t === 'number' && !Number.isFinite(value as number)) throw new RunInputError(400, pointer, 'input numbers must be finite');
    if (t === 'bigint' || t === 'function' || t === 'symbol') throw new RunInputError(400, pointer, `input holds a ${t}, which is not JSON`);
    if (value === null || t !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH) {
      throw new RunInputError(400, pointer.slice(0, 200), `input is nested deeper than ${MAX_INPUT_DEPTH} levels`);
    }
    if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, depth: depth + 1, pointer: `${pointer}/${i}` }));
    else for (const [k, v] of Object.entries(value as object)) stack.push({ value: v, depth: depth + 1, pointer: `${pointer}/${escapePointer(k)}` });
  }
  const bytes = Buffer.byteLength(JSON.stringify(input));
  if (bytes > MAX_INPUT_BYTES) throw new RunInputError(413, '', `input is ${bytes} bytes of JSON; at most ${MAX_INPUT_BYTES}`);
}
