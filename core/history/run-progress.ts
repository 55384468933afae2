/**
 * How far a run has got, as one number that only grows: a run's events in
 * the order they happen. Attempt a is preceded by its wait for a turn
 * (3a), then starts (3a + 1) and ends (3a + 2); a skipped fire is the end of
 * its run. A record saved with the events it counts (RunLedger) says by its
 * status, attempt and wait how far its run's events are counted: a later
 * write counts only the events past that, so each (run, attempt, event)
 * counts once however often it is written, with no marker of its own.
 */
export type RunProgressEvent = 'waited' | 'started' | 'finished' | 'skipped';

/** A skipped fire: nothing comes after it. 2^53, a whole number Lua and JavaScript read alike. */
export const RUN_END_PROGRESS = 9_007_199_254_740_992;

/**
 * Where an event of a run stands: `attempt` is the attempt started or
 * finished, or for `waited` the attempts made so far (the wait comes before the next).
 */
export function runProgress(event: RunProgressEvent, attempt: number): number {
  switch (event) {
    case 'waited':
      return 3 * (attempt + 1);
    case 'started':
      return 3 * attempt + 1;
    case 'finished':
      return 3 * attempt + 2;
    case 'skipped':
      return RUN_END_PROGRESS;
  }
}

/**
 * Lua `countedUpTo(json)`: how far the events of the run whose stored
 * record this is are counted (as runProgress), -1 for none (no record, or
 * one that does not say). A waiting record counted its wait; a running one
 * its attempt's start; any other its attempt's end (a queued record, attempt
 * 0: nothing); a skipped one everything. Only top-level properties match:
 * a quote inside a string value is escaped in JSON.
 */
export const RUN_PROGRESS_LUA = `
local function countedUpTo(json)
  if not json then return -1 end
  local status = string.match(json, '"status":"(%a+)"')
  local attempts = tonumber(string.match(json, '"attempts":(%d+)'))
  if not status or not attempts then return -1 end
  if status == 'skipped' then return ${RUN_END_PROGRESS} end
  if string.find(json, '"waiting":{', 1, true) then return 3 * (attempts + 1) end
  if status == 'running' then return 3 * attempts + 1 end
  return 3 * attempts + 2
end`;
