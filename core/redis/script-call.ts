/**
 * The KEYS and ARGV of one Lua script call, built up by the parts it writes
 * for (RunLedger: the history's saves and the metrics' records of a batch of
 * runs). A key the parts share, and a long string they repeat (a label set),
 * is sent once: a part refers to it by index, KEYS[i] for `key()`,
 * ARGV[1 + j] for `intern()`. ARGV is: the number m of interned strings,
 * those m strings, then the parts' own arguments in the order they were added.
 */
export class ScriptCall {
  readonly keys: string[] = [];
  readonly args: Array<string | number> = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();

  /** The KEYS index (from 1) of a key the parts share, added at its first use. */
  key(key: string): number {
    let i = this.keyIndex.get(key);
    if (i === undefined) this.keyIndex.set(key, (i = this.keys.push(key)));
    return i;
  }

  /** The KEYS index of a key only one part uses once (a run's own record): not looked up. */
  ownKey(key: string): number {
    return this.keys.push(key);
  }

  /** The index j of a string sent once (ARGV[1 + j] in the script). */
  intern(s: string): number {
    let j = this.stringIndex.get(s);
    if (j === undefined) this.stringIndex.set(s, (j = this.strings.push(s)));
    return j;
  }

  /** What the script gets: numkeys, KEYS, then ARGV (one array: no copies through call arguments). */
  commandArgs(): Array<string | number> {
    const out: Array<string | number> = [this.keys.length];
    for (const k of this.keys) out.push(k);
    out.push(this.strings.length);
    for (const s of this.strings) out.push(s);
    for (const a of this.args) out.push(a);
    return out;
  }
}

/**
 * Lua every such script starts with: where its own arguments start (after
 * the interned strings, see ScriptCall). A run's dozen small values
 * (numbers, indexes, ids) go packed in one argument, space-separated, which
 * the script reads with string.match or string.gmatch: one argument costs
 * Redis and ioredis less than a dozen.
 */
export const SCRIPT_CALL_PRELUDE_LUA = `local argsStart = 2 + tonumber(ARGV[1])`;
