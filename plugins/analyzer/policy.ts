import { LABELS } from '../shared/containers/container-labels.js';
import { isContainerClass, type AnalyzedContainer, type ContainerClass, type Decision } from '../shared/records/container-records.js';

/**
 * The analyzer's default policy, as a pure function (no I/O, no clock, no
 * randomness) so it can be table-tested exhaustively.
 *
 * Rules (design.md, "Analyzer policy"):
 * - A container without `tideflow.managed=true` is ignored: not decided, not
 *   counted, not returned in `decisions` (only its id in `ignored`).
 * - `tideflow.protected=true`: decision `protected`, never killed, not counted
 *   against `keep`.
 * - Class comes from the `tideflow.class` label (`high`|`low`). Unlabelled (or
 *   an unknown label value) are classed by measurement: `high` when CPU% >=
 *   `classify.highCpuPct` or memory >= `classify.highMemBytes`, else `low`.
 * - High ones are ranked by CPU% descending, then memory descending; low ones
 *   by CPU% ascending, then memory ascending; ties by container id ascending.
 *   The first `keep.high` / `keep.low` are kept, the rest are surplus.
 * - Missing metrics (null, NaN, infinite or negative figures are all treated
 *   as "unknown"): an unknown figure ranks after every known one in both
 *   classes, i.e. it is the first to be dropped. Rationale: the policy's job
 *   is to enforce the counts; a container we cannot measure (usually one that
 *   is exiting) must not displace one we know fits. An unlabelled container
 *   with no usable figure is classed `low`.
 * - `maxKillsPerRun` (optional): at most that many are killed; the heaviest
 *   consumers of the surplus go first (CPU% desc, memory desc, unknown last,
 *   id asc); the spared ones are `kept` with a reason saying so.
 * - `dryRun`: every decision is made and reported, but would-be kills are
 *   reported as `kept` with a "dry run" reason and `kill` is empty.
 */

export interface PolicyContainer {
  id: string;
  labels: Record<string, string | undefined>;
  cpuPct: number | null | undefined;
  memBytes: number | null | undefined;
}

export interface PolicyOptions {
  keep: { high: number; low: number };
  /** Cap on kills per run; undefined means no cap. */
  maxKillsPerRun?: number;
  dryRun?: boolean;
  /** Thresholds for classing unlabelled containers. */
  classify?: { highCpuPct: number; highMemBytes: number };
}

export interface PolicyDecision {
  id: string;
  class: ContainerClass;
  classSource: AnalyzedContainer['classSource'];
  decision: Decision;
  reason: string;
  /** Position in its class ranking (0 = most wanted); null for protected. */
  rank: number | null;
}

export interface PolicyResult {
  /** One per managed container, in input order. */
  decisions: PolicyDecision[];
  /** Ids to SIGKILL + remove now (empty in dry run). */
  kill: string[];
  /** Ids the policy would kill if it were not a dry run / not capped (informational). */
  surplus: string[];
  /** Ids of unmanaged containers that were handed in and left alone. */
  ignored: string[];
}

export const DEFAULT_CLASSIFY = { highCpuPct: 10, highMemBytes: 32 * 1024 * 1024 } as const;

/** A usable figure, or null (null/NaN/Infinity/negative are "unknown"). */
export function usable(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : null;
}

/** Compares two figures for "bigger first"; unknown after every known one. */
function desc(a: number | null, b: number | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return b - a;
}

/** Compares two figures for "smaller first"; unknown after every known one. */
function asc(a: number | null, b: number | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return a - b;
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

interface Entry {
  id: string;
  cpu: number | null;
  mem: number | null;
  cls: ContainerClass;
  classSource: 'label' | 'measured';
  index: number;
}

function fmt(e: Entry): string {
  const cpu = e.cpu === null ? 'cpu ?' : `cpu ${e.cpu.toFixed(1)}%`;
  const mem = e.mem === null ? 'mem ?' : `mem ${(e.mem / 1048576).toFixed(1)} MiB`;
  return `${cpu}, ${mem}`;
}

export function applyPolicy(containers: readonly PolicyContainer[], opts: PolicyOptions): PolicyResult {
  const classify = opts.classify ?? DEFAULT_CLASSIFY;
  const keepHigh = Math.max(0, Math.floor(opts.keep.high));
  const keepLow = Math.max(0, Math.floor(opts.keep.low));
  const out = new Map<string, PolicyDecision>();
  const ignored: string[] = [];
  const high: Entry[] = [];
  const low: Entry[] = [];
  const order: string[] = [];

  containers.forEach((c, index) => {
    if (c.labels[LABELS.managed] !== 'true') {
      ignored.push(c.id);
      return;
    }
    order.push(c.id);
    const cpu = usable(c.cpuPct);
    const mem = usable(c.memBytes);
    const label = c.labels[LABELS.class];
    let cls: ContainerClass;
    let classSource: AnalyzedContainer['classSource'];
    if (isContainerClass(label)) {
      cls = label;
      classSource = 'label';
    } else {
      classSource = 'measured';
      cls = (cpu !== null && cpu >= classify.highCpuPct) || (mem !== null && mem >= classify.highMemBytes) ? 'high' : 'low';
    }
    if (c.labels[LABELS.protected] === 'true') {
      out.set(c.id, { id: c.id, class: cls, classSource, decision: 'protected', reason: 'tideflow.protected=true: never killed, not counted', rank: null });
      return;
    }
    (cls === 'high' ? high : low).push({ id: c.id, cpu, mem, cls, classSource, index });
  });

  high.sort((a, b) => desc(a.cpu, b.cpu) || desc(a.mem, b.mem) || byId(a, b));
  low.sort((a, b) => asc(a.cpu, b.cpu) || asc(a.mem, b.mem) || byId(a, b));

  const surplus: Entry[] = [];
  const rankOf = new Map<string, number>();
  for (const [list, keep, what] of [[high, keepHigh, 'highest-consuming high'], [low, keepLow, 'lowest-consuming low']] as const) {
    list.forEach((e, i) => {
      rankOf.set(e.id, i);
      if (i < keep) {
        out.set(e.id, { id: e.id, class: e.cls, classSource: e.classSource, decision: 'kept', reason: `#${i + 1} of the ${keep} ${what} kept (${fmt(e)})`, rank: i });
      } else {
        surplus.push(e);
      }
    });
  }

  // Heaviest consumers go first when the kill count is capped.
  surplus.sort((a, b) => desc(a.cpu, b.cpu) || desc(a.mem, b.mem) || byId(a, b));
  const cap = opts.maxKillsPerRun === undefined ? Infinity : Math.max(0, Math.floor(opts.maxKillsPerRun));
  const kill: string[] = [];
  surplus.forEach((e, i) => {
    const keep = e.cls === 'high' ? keepHigh : keepLow;
    const why = `surplus ${e.cls}: ranked #${rankOf.get(e.id)! + 1}, only ${keep} kept (${fmt(e)})`;
    const base = { id: e.id, class: e.cls, classSource: e.classSource, rank: rankOf.get(e.id)! };
    if (i >= cap) {
      out.set(e.id, { ...base, decision: 'kept', reason: `${why}; spared by maxKillsPerRun=${cap}` });
    } else if (opts.dryRun) {
      out.set(e.id, { ...base, decision: 'kept', reason: `dry run: would kill, ${why}` });
    } else {
      out.set(e.id, { ...base, decision: 'killed', reason: why });
      kill.push(e.id);
    }
  });

  return {
    decisions: order.map((id) => out.get(id)!),
    kill,
    surplus: surplus.map((e) => e.id),
    ignored,
  };
}
