/** One Lua script call's KEYS and ARGV, built up by the parts it writes for (see RunLedger). */
export interface ScriptCall {
  keys: string[];
  args: Array<string | number>;
}
