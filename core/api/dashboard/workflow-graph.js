// tideflow dashboard: a workflow's jobs as an inline SVG graph (no library, no CDN).
// Nodes are jobs in layers by trigger depth (a job reached through `then` or
// `onFailure` sits right of the jobs that reach it); `then` edges are solid,
// `onFailure` edges dashed and labelled.

const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_W = 168;
const NODE_H = 46;
const GAP_X = 72;
const GAP_Y = 22;
const PAD = 14;

/** Creates an SVG element; children may be strings (text) or nodes. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function triggerLabel(job) {
  const t = job.trigger ?? {};
  if (t.every) return `every ${t.every}`;
  if (t.cron) return `cron ${t.cron}`;
  if (t.manual) return 'manual';
  if (t.webhook) return 'webhook';
  return '';
}

const clip = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * The graph's shape: edges from each job's `then` and `onFailure` (from
 * `trigger.chainedFrom` for an engine that sends neither), layers by the
 * longest path from a job nothing reaches, order in a layer by the mean
 * position of the jobs that reach it (fewer crossings).
 */
export function graphLayout(jobs) {
  const names = jobs.map((j) => j.job);
  const known = new Set(names);
  const edges = [];
  for (const j of jobs) {
    for (const to of j.then ?? []) if (known.has(to)) edges.push({ from: j.job, to, kind: 'then' });
    for (const to of j.onFailure ?? []) if (known.has(to)) edges.push({ from: j.job, to, kind: 'on-failure' });
  }
  if (!jobs.some((j) => j.then || j.onFailure)) {
    for (const j of jobs) for (const from of j.trigger?.chainedFrom ?? []) if (known.has(from)) edges.push({ from, to: j.job, kind: 'then' });
  }
  // Longest path by relaxation; at most one pass per job, so a cycle (then + onFailure may make one) cannot loop.
  const depth = new Map(names.map((n) => [n, 0]));
  for (let pass = 0; pass < names.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.from === e.to) continue;
      const d = depth.get(e.from) + 1;
      if (d > depth.get(e.to) && d < names.length) {
        depth.set(e.to, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const sparse = [];
  for (const n of names) (sparse[depth.get(n)] ??= []).push(n);
  // Depths a cycle pushed apart leave empty layers: close them up.
  const layers = sparse.filter(Boolean);
  const position = new Map();
  layers.forEach((layer, li) => {
    if (li > 0) {
      const mean = (n) => {
        const from = edges.filter((e) => e.to === n && position.has(e.from)).map((e) => position.get(e.from));
        return from.length ? from.reduce((a, b) => a + b, 0) / from.length : Infinity;
      };
      const order = new Map(layer.map((n) => [n, mean(n)]));
      layer.sort((a, b) => order.get(a) - order.get(b) || names.indexOf(a) - names.indexOf(b));
    }
    layer.forEach((n, i) => position.set(n, i));
  });
  const rows = Math.max(1, ...layers.map((l) => l.length));
  const nodes = new Map();
  layers.forEach((layer, li) =>
    layer.forEach((n, i) => {
      // Centre a short layer against the tallest one.
      const offset = ((rows - layer.length) * (NODE_H + GAP_Y)) / 2;
      nodes.set(n, { x: PAD + li * (NODE_W + GAP_X), y: PAD + offset + i * (NODE_H + GAP_Y), layer: li });
    }),
  );
  const width = PAD * 2 + layers.length * NODE_W + Math.max(0, layers.length - 1) * GAP_X;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y + 14;
  return { nodes, edges, width, height };
}

let graphs = 0;

/** An inline SVG of the workflow's jobs and their `then` / `onFailure` edges. */
export function workflowGraph(wf) {
  const { nodes, edges, width, height } = graphLayout(wf.jobs);
  const id = `wfg-${++graphs}`;
  const marker = (name) =>
    s('marker', { id: `${id}-${name}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', class: `arrow ${name}` }));
  const byJob = new Map(wf.jobs.map((j) => [j.job, j]));

  const edgeEls = edges.map((e) => {
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    // A failure edge beside a `then` edge between the same jobs would hide it: nudge it down.
    const dy = e.kind === 'on-failure' && edges.some((o) => o.kind === 'then' && o.from === e.from && o.to === e.to) ? 8 : 0;
    let d;
    let lx;
    let ly;
    if (b.layer > a.layer) {
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2 + dy;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2 + dy;
      const c = (x2 - x1) / 2;
      d = `M${x1},${y1} C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2 - 5;
    } else {
      // Backwards or within a layer (only through a cycle): a loop under the nodes.
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + NODE_H;
      const x2 = b.x + NODE_W / 2 + 10;
      const y2 = b.y + NODE_H;
      const low = Math.max(y1, y2) + 26;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = low - 4;
    }
    const title = `${e.from} → ${e.to}${e.kind === 'on-failure' ? ' (on failure)' : ' (then)'}`;
    return s('g', { class: `edge ${e.kind}`, dataset: { from: e.from, to: e.to, kind: e.kind } },
      s('title', {}, title),
      s('path', { d, class: 'edge-line', 'marker-end': `url(#${id}-${e.kind})` }),
      e.kind === 'on-failure' ? s('text', { x: lx, y: ly, class: 'edge-label', 'text-anchor': 'middle' }, 'on failure') : null,
    );
  });

  const nodeEls = [...nodes].map(([name, p]) => {
    const job = byJob.get(name);
    const status = job?.lastRun?.status ?? 'never';
    const sub = [job?.plugin, triggerLabel(job ?? {})].filter(Boolean).join(' · ');
    return s('g', { class: `node status-${status}${job?.state === 'paused' ? ' paused' : ''}`, dataset: { job: name, status }, transform: `translate(${p.x},${p.y})` },
      s('title', {}, `${wf.name}/${name}: ${sub}${job?.lastRun ? ` — last run ${status}` : ''}${job?.state === 'paused' ? ' (paused)' : ''}`),
      s('rect', { width: NODE_W, height: NODE_H, rx: 7, class: 'node-box' }),
      s('circle', { cx: 12, cy: 15, r: 4, class: 'node-dot' }),
      s('text', { x: 22, y: 19, class: 'node-name' }, clip(name, 20)),
      s('text', { x: 10, y: 36, class: 'node-sub' }, clip(sub, 26)),
    );
  });

  return s('svg', {
    class: 'wf-graph-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Jobs of ${wf.name} and what triggers what`, dataset: { workflow: wf.name },
  },
  s('defs', {}, marker('then'), marker('on-failure')),
  ...edgeEls,
  ...nodeEls,
  );
}

/** Graphs the person folded, by workflow name: a re-render keeps them folded. */
const folded = new Set();

/** The graph in a foldable section, for a workflow card. */
export function graphSection(wf) {
  const details = document.createElement('details');
  details.className = 'wf-graph';
  details.open = !folded.has(wf.name);
  details.addEventListener('toggle', () => (details.open ? folded.delete(wf.name) : folded.add(wf.name)));
  const summary = document.createElement('summary');
  summary.textContent = 'Graph';
  const legend = document.createElement('span');
  legend.className = 'muted small legend';
  legend.textContent = ' — solid: then · dashed: on failure';
  summary.append(legend);
  const wrap = document.createElement('div');
  wrap.className = 'wf-graph-wrap';
  wrap.append(workflowGraph(wf));
  details.append(summary, wrap);
  return details;
}
