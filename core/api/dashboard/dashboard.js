// tideflow dashboard: plain ES module, no build step, same-origin requests only.
import installRunView, { runHash } from './run-view.js';

// live: live updates (server-sent events) and the workflow graph, each its own module.
import { startLive } from './live-updates.js';
import { graphSection } from './workflow-graph.js';

const TOKEN_KEY = 'tideflow.adminToken';
const HOST_KEY = 'tideflow.host';
const POLL_MS = { workflows: 3000, runs: 3000, health: 5000, hosts: 10000 };
// live: `?poll=<ms>` sets how often workflows and runs are polled without the live stream (e.g. `?poll=600000`: push only).
const POLL_PARAM = Number(new URLSearchParams(location.search).get('poll'));
if (Number.isFinite(POLL_PARAM) && POLL_PARAM >= 1000) POLL_MS.workflows = POLL_MS.runs = POLL_PARAM;
/** live: while the stream is up, workflows and runs are still read this often, in case an event was lost. */
const LIVE_SAFETY_POLL_MS = Math.max(60_000, POLL_MS.runs);
/** Rows of the recent runs table. */
const RUNS_SHOWN = 10;

const $ = (sel, root = document) => root.querySelector(sel);

/** Creates an element; children may be strings (text, never HTML) or nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---------------------------------------------------------------- formatting

function toMs(v) {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return v < 1e12 ? v * 1000 : v; // seconds or ms
  const n = Number(v);
  if (Number.isFinite(n)) return toMs(n);
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

function relTime(v) {
  const ms = toMs(v);
  if (ms === undefined) return '—';
  const d = Math.round((ms - Date.now()) / 1000);
  const a = Math.abs(d);
  const txt = a < 1 ? 'now' : a < 60 ? `${a}s` : a < 3600 ? `${Math.round(a / 60)}m` : a < 86400 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86400)}d`;
  if (txt === 'now') return 'now';
  return d > 0 ? `in ${txt}` : `${txt} ago`;
}

const absTime = (v) => {
  const ms = toMs(v);
  return ms === undefined ? '' : new Date(ms).toLocaleString();
};

/** A cell whose "12s ago" text ticks every second without re-rendering its row. */
function timeCell(v, attrs = {}) {
  const ms = toMs(v);
  return h('td', { ...attrs, title: absTime(ms), dataset: ms === undefined ? {} : { rel: String(ms) } }, relTime(ms));
}

function tickTimes() {
  for (const el of document.querySelectorAll('[data-rel]')) {
    const txt = relTime(Number(el.dataset.rel));
    if (el.textContent !== txt) el.textContent = txt;
  }
}

function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

function bytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

const pct = (n) => (typeof n === 'number' && Number.isFinite(n) ? `${n.toFixed(1)} %` : '—');

function triggerText(t = {}) {
  if (t.every) return `every ${t.every}`;
  if (t.cron) return `cron ${t.cron}${t.timezone ? ` (${t.timezone})` : ''}`;
  if (t.chainedFrom?.length) return `after ${t.chainedFrom.join(', ')}`;
  if (t.manual) return 'manual';
  return '—';
}

const badge = (text, kind) => h('span', { class: `badge ${kind ?? text}` }, text);

// ---------------------------------------------------------------- toasts

function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}` }, message);
  $('#toasts').append(el);
  setTimeout(() => el.classList.add('hide'), 3500);
  setTimeout(() => el.remove(), 4000);
}

// ---------------------------------------------------------------- token

const getToken = () => localStorage.getItem(TOKEN_KEY) || '';

function showTokenState() {
  const btn = $('#token-button');
  btn.textContent = getToken() ? 'Admin token ✓' : 'Set admin token';
  btn.classList.toggle('ok', !!getToken());
}

/** Opens the token dialog; resolves to the saved token or null when cancelled. */
function askToken(reason) {
  const dialog = $('#token-dialog');
  const input = $('#token-input');
  input.value = getToken();
  input.placeholder = reason || '';
  return new Promise((resolve) => {
    const done = (value) => {
      cleanup();
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (!v) return;
      localStorage.setItem(TOKEN_KEY, v);
      showTokenState();
      done(v);
    };
    const onCancel = () => done(null);
    const onForget = () => {
      localStorage.removeItem(TOKEN_KEY);
      showTokenState();
      toast('Admin token forgotten');
      done(null);
    };
    const onClose = () => done(null);
    function cleanup() {
      $('#token-form').removeEventListener('submit', onSubmit);
      $('#token-cancel').removeEventListener('click', onCancel);
      $('#token-forget').removeEventListener('click', onForget);
      dialog.removeEventListener('close', onClose);
    }
    $('#token-form').addEventListener('submit', onSubmit);
    $('#token-cancel').addEventListener('click', onCancel);
    $('#token-forget').addEventListener('click', onForget);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    input.focus();
  });
}

// ---------------------------------------------------------------- API

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  return { status: res.status, ok: res.ok, body };
}

/** A mutating call: asks for the token once, again only after a 401. */
async function mutate(path, body) {
  let token = getToken() || (await askToken());
  if (!token) return undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await fetch(path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json;
    try {
      json = await res.json();
    } catch {
      json = undefined;
    }
    if (res.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      showTokenState();
      token = await askToken('That token was refused; try again');
      if (!token) return undefined;
      continue;
    }
    if (!res.ok) {
      toast(json?.message || `${res.status} ${res.statusText}`, 'error');
      return undefined;
    }
    return json ?? {};
  }
  return undefined;
}

// ---------------------------------------------------------------- health

async function refreshHealth() {
  const el = $('#health');
  try {
    const { body } = await getJson('/api/health');
    const checks = Object.entries(body?.checks ?? {});
    const down = checks.filter(([, c]) => c.status !== 'up');
    el.classList.toggle('down', down.length > 0 || !body);
    el.classList.toggle('up', !!body && down.length === 0);
    $('.health-text', el).textContent = !body
      ? 'no answer'
      : down.length === 0
        ? 'all systems up'
        : `${down.map(([n]) => n).join(', ')} down`;
    el.title = checks.map(([n, c]) => `${n}: ${c.status}${c.reason ? ` — ${c.reason}` : ''}`).join('\n');
  } catch {
    el.classList.add('down');
    $('.health-text', el).textContent = 'engine unreachable';
  }
}

// ---------------------------------------------------------------- host filter

/** The host whose runs and records the page shows; '' for all hosts. Kept in this browser. */
let selectedHost = localStorage.getItem(HOST_KEY) || '';
const hostListeners = new Set();
let hostsSignature;

/** `&host=<name>` for the selected host, '' for all hosts. */
const hostParam = (host = selectedHost) => (host ? `&host=${encodeURIComponent(host)}` : '');

function setHost(host) {
  if (host === selectedHost) return;
  selectedHost = host;
  if (host) localStorage.setItem(HOST_KEY, host);
  else localStorage.removeItem(HOST_KEY);
  $('.host-filter').classList.toggle('filtered', !!host);
  void refreshRuns();
  for (const fn of hostListeners) {
    try {
      fn(host);
    } catch (err) {
      console.warn('host change listener failed', err);
    }
  }
}

/** GET /api/hosts: the hosts of recent runs; the remembered choice stays listed even when it ran nothing lately. */
async function refreshHosts() {
  const { ok, body } = await getJson('/api/hosts');
  const names = ok && Array.isArray(body?.hosts) ? body.hosts.map((x) => x.name) : [];
  if (selectedHost && !names.includes(selectedHost)) names.push(selectedHost);
  names.sort((a, b) => a.localeCompare(b));
  // Re-render only on change, so an open list is never replaced under the pointer.
  const signature = JSON.stringify(names);
  if (signature === hostsSignature) return;
  hostsSignature = signature;
  const select = $('#host-select');
  select.replaceChildren(h('option', { value: '' }, 'all hosts'), ...names.map((n) => h('option', { value: n }, n)));
  select.value = selectedHost;
}

// ---------------------------------------------------------------- workflows

let workflowsSignature = '';

function jobRow(job, failureOf) {
  const id = `${job.workflow}/${job.job}`;
  const last = job.lastRun;
  const paused = job.state === 'paused';
  const waiting = !paused && job.waiting;
  const stateLabel = paused ? `paused${job.pausedBy && job.pausedBy !== 'job' ? ` (${job.pausedBy})` : ''}` : waiting ? 'waiting' : 'active';
  const route = job.route && job.route !== 'default' ? ` · on ${job.route}` : '';
  return h(
    'tr',
    { dataset: { job: id, state: waiting ? 'waiting' : job.state } },
    h('td', {}, h('div', { class: 'job-name' }, job.job), h('div', { class: 'muted small' }, job.plugin + route)),
    // live: a job only a failure starts says whose.
    h('td', {}, triggerText(job.trigger) === '—' && failureOf?.length ? `on failure of ${failureOf.join(', ')}` : triggerText(job.trigger)),
    h('td', { class: 'state-cell', title: waiting || '' }, badge(stateLabel, waiting ? 'waiting' : job.state)),
    timeCell(job.nextRunAt ?? undefined),
    timeCell(last ? last.finishedAt ?? last.startedAt ?? last.queuedAt : undefined),
    h(
      'td',
      { title: last?.error ?? '' },
      last ? badge(last.status) : h('span', { class: 'muted' }, 'never run'),
      last?.durationMs !== undefined ? h('span', { class: 'muted small dur' }, duration(last.durationMs)) : null,
    ),
    h(
      'td',
      { class: 'actions' },
      h('button', { type: 'button', class: 'btn small', dataset: { action: 'trigger' }, title: `Run ${id} now`, onclick: () => act('trigger', job.workflow, job.job) }, '▶ Run'),
      paused
        ? h('button', { type: 'button', class: 'btn small', dataset: { action: 'resume' }, title: `Resume ${id}`, onclick: () => act('resume', job.workflow, job.job) }, 'Resume')
        : h('button', { type: 'button', class: 'btn small', dataset: { action: 'pause' }, title: `Pause ${id}`, onclick: () => act('pause', job.workflow, job.job) }, 'Pause'),
    ),
  );
}

function workflowCard(wf) {
  const paused = wf.state === 'paused';
  return h(
    'div',
    { class: 'workflow', dataset: { workflow: wf.name, state: wf.state } },
    h(
      'div',
      { class: 'workflow-head' },
      h('h3', {}, wf.name),
      badge(wf.state),
      h('span', { class: 'muted small file' }, wf.file),
      h('span', { class: 'spacer' }),
      paused
        ? h('button', { type: 'button', class: 'btn small', dataset: { action: 'resume-workflow' }, onclick: () => act('resume', wf.name) }, 'Resume workflow')
        : h('button', { type: 'button', class: 'btn small', dataset: { action: 'pause-workflow' }, onclick: () => act('pause', wf.name) }, 'Pause workflow'),
    ),
    wf.error ? h('div', { class: 'wf-error' }, `Last load error (previous definition kept): ${wf.error}`) : null,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'jobs' },
        h('thead', {}, h('tr', {}, ['Job', 'Trigger', 'State', 'Next run', 'Last run', 'Last status', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, wf.jobs.map((j) => jobRow(j, wf.jobs.filter((o) => o.onFailure?.includes(j.job)).map((o) => o.job)))),
      ),
    ),
    // live: the jobs as a graph (then / onFailure edges).
    graphSection(wf),
  );
}

function renderWorkflows(list) {
  const root = $('#workflows');
  root.replaceChildren(...(list.length ? list.map(workflowCard) : [h('p', { class: 'empty' }, 'No workflows loaded.')]));
  const jobs = list.reduce((n, w) => n + w.jobs.length, 0);
  const paused = list.reduce((n, w) => n + w.jobs.filter((j) => j.state === 'paused').length, 0);
  $('#workflows-note').textContent = `${list.length} workflow${list.length === 1 ? '' : 's'}, ${jobs} jobs${paused ? `, ${paused} paused` : ''}`;
}

async function refreshWorkflows() {
  const { ok, body } = await getJson('/api/workflows');
  if (!ok || !Array.isArray(body)) {
    $('#workflows-note').textContent = 'could not load workflows';
    return;
  }
  // Re-render only on change, so a button is never replaced under the pointer.
  const signature = JSON.stringify(body);
  if (signature === workflowsSignature) return;
  workflowsSignature = signature;
  renderWorkflows(body);
}

async function act(action, workflow, job) {
  const base = workflow === undefined ? '/api' : `/api/workflows/${encodeURIComponent(workflow)}`;
  const path = job === undefined ? `${base}/${action}` : `${base}/jobs/${encodeURIComponent(job)}/${action}`;
  const what = job ? `${workflow}/${job}` : workflow ?? 'everything';
  const res = await mutate(path);
  if (res === undefined) return;
  workflowsSignature = '';
  if (action === 'trigger') toast(`Triggered ${what} (run ${res.runId})`, 'ok');
  else toast(`${action === 'pause' ? 'Paused' : 'Resumed'} ${what}`, 'ok');
  await Promise.all([refreshWorkflows(), refreshRuns()]);
}

// ---------------------------------------------------------------- runs

async function cancelRun(runId) {
  const res = await mutate(`/api/runs/${encodeURIComponent(runId)}/cancel`);
  if (res === undefined) return;
  toast(res.status === 'cancelled' ? `Cancelled run ${runId}` : `Cancelling run ${runId}…`, 'ok');
  await refreshRuns();
}

/** live: the rows shown now, and records pushed by the stream (id -> { run, at }) that a slower poll must not undo. */
let shownRuns = [];
const pushedRuns = new Map();

async function refreshRuns() {
  const tbody = $('#runs tbody');
  const host = selectedHost;
  const asked = Date.now();
  const { ok, body } = await getJson(`/api/runs?limit=${RUNS_SHOWN}${hostParam(host)}`);
  // The host was changed while this was under way: the newer request renders.
  if (host !== selectedHost) return;
  if (!ok || !Array.isArray(body?.runs)) {
    $('#runs-note').textContent = 'could not load runs';
    return;
  }
  $('#runs-note').textContent = `${body.total} in history${host ? ` on ${host}` : ''}`;
  // live: a record pushed after this request was made is newer than what it answered.
  for (const [id, p] of pushedRuns) if (p.at < asked - 30_000) pushedRuns.delete(id);
  renderRuns(body.runs.map((r) => (pushedRuns.get(r.id)?.at > asked ? pushedRuns.get(r.id).run : r)), host);
}

/** The rows on screen by run id, with the record each shows (as JSON): an unchanged run keeps its row. */
let runRows = new Map();

/**
 * Shows `runs`, touching only the rows whose run changed or moved: every
 * pushed record and poll renders the table, and a row replaced under the
 * pointer loses the click being made on it (press and release on two
 * different nodes make no click), a focused Cancel button its focus.
 */
function renderRuns(runs, host = selectedHost) {
  const tbody = $('#runs tbody');
  shownRuns = runs;
  if (!runs.length) {
    runRows = new Map();
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, host ? `No runs on ${host} yet.` : 'No runs yet.')));
    return;
  }
  const next = new Map();
  const rows = runs.map((r) => {
    const json = JSON.stringify(r);
    const had = runRows.get(r.id);
    const tr = had?.json === json ? had.tr : runRow(r);
    next.set(r.id, { json, tr });
    return tr;
  });
  runRows = next;
  rows.forEach((tr, i) => {
    const at = tbody.children[i];
    if (at !== tr) tbody.insertBefore(tr, at ?? null);
  });
  while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
}

function runRow(r) {
  return (
      h(
        'tr',
        // A click on the row (not on its buttons) opens the run view.
        { title: r.error ?? '', dataset: { run: r.id, status: r.status }, onclick: (e) => !e.target.closest('button, a') && (location.hash = runHash(r.id)) },
        timeCell(r.queuedAt),
        h('td', { class: 'nowrap' }, h('a', { class: 'job-name run-link', href: runHash(r.id), title: `Open run ${r.id}` }, r.job), h('span', { class: 'muted small run-wf' }, r.workflow)),
        h('td', { class: 'mono host' }, r.host ?? '—'),
        h('td', {}, r.trigger),
        h(
          'td',
          { class: 'nowrap' },
          badge(r.status),
          r.attempts > 1 ? h('span', { class: 'muted small' }, ` ×${r.attempts}`) : null,
          r.status === 'queued' || r.status === 'running' || r.status === 'retrying'
            ? h('button', { type: 'button', class: 'btn tiny', dataset: { action: 'cancel', run: r.id }, title: `Cancel run ${r.id}`, onclick: () => void cancelRun(r.id) }, 'Cancel')
            : null,
        ),
        h('td', { class: 'num' }, duration(r.durationMs)),
      )
  );
}

// ---------------------------------------------------------------- live updates

/** live: run records pushed by the stream: patch the rows now, re-read the totals and job states soon. */
function applyRuns(records) {
  const host = selectedHost;
  let runs = shownRuns.slice();
  let changed = false;
  for (const r of records) {
    pushedRuns.set(r.id, { run: r, at: Date.now() });
    const i = runs.findIndex((x) => x.id === r.id);
    const fits = !host || r.host === host;
    if (i >= 0) {
      if (fits) runs[i] = r;
      else runs.splice(i, 1);
      changed = true;
    } else if (fits && (runs.length < RUNS_SHOWN || r.queuedAt >= runs[runs.length - 1].queuedAt)) {
      runs.push(r);
      changed = true;
    }
  }
  if (changed) {
    runs = runs.sort((a, b) => b.queuedAt - a.queuedAt).slice(0, RUNS_SHOWN);
    renderRuns(runs, host);
  }
  runsSoon();
  workflowsSoon();
}

/** Calls `fn` once at most every `ms`, the last call never lost. */
function throttled(fn, ms) {
  let last = 0;
  let timer;
  return () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = undefined;
      last = Date.now();
      try {
        await fn();
      } catch (err) {
        console.warn('dashboard refresh failed', err);
      }
    }, Math.max(0, last + ms - Date.now()));
  };
}
// The history total and each job's last run/next fire follow a burst of run events within a second or two.
const runsSoon = throttled(() => refreshRuns(), 2000);
const workflowsSoon = throttled(() => refreshWorkflows(), 1000);

// ---------------------------------------------------------------- plugin panels

/**
 * What a plugin's panel module gets: its default export is called with this
 * once. Panels build their own DOM with `h` (text, never HTML) and refresh
 * with `every`; same-origin requests only (the page's CSP).
 */
const panelApi = {
  h, $, getJson, mutate, toast, toMs, relTime, absTime, timeCell, badge, pct, bytes, duration,
  /** A panel section: `place` 'top' (full width, above the workflows) or 'column' (beside the recent runs). */
  addPanel({ id, title, place = 'column' }) {
    const note = h('span', { class: 'muted', id: `${id}-note` });
    const body = h('div', { class: 'panel-body' });
    const section = h('section', { class: 'panel', id: `${id}-panel` }, h('div', { class: 'panel-head' }, h('h2', {}, title), note), body);
    if (place === 'top') $('main').insertBefore(section, $('#workflows-panel'));
    else $('.columns').insertBefore(section, $('#runs-panel'));
    return { section, body, note };
  },
  every(fn, ms) {
    return poll(fn, ms);
  },
  /** The host chosen in the top bar ('' for all hosts): add `&host=` to the panel's requests. */
  host() {
    return selectedHost;
  },
  /** Calls `fn(host)` whenever the chosen host changes; returns a function that stops it. */
  onHostChange(fn) {
    hostListeners.add(fn);
    return () => hostListeners.delete(fn);
  },
};

/** GET /dashboard/panels.json lists the loaded plugins' panels; each is an ES module served from this origin. */
async function loadPanels() {
  const { ok, body } = await getJson('/dashboard/panels.json');
  if (!ok || !Array.isArray(body?.panels)) return;
  for (const panel of body.panels) {
    try {
      const mod = await import(panel.url);
      await mod.default(panelApi);
    } catch (err) {
      console.warn(`dashboard panel ${panel.plugin}/${panel.id} failed`, err);
      toast(`The ${panel.plugin} panel failed to load`, 'error');
    }
  }
}

// ---------------------------------------------------------------- boot

/** A refresh whose failure is a console warning, not an unhandled rejection that stops the page. */
function guarded(fn) {
  return async () => {
    try {
      await fn();
    } catch (err) {
      console.warn('dashboard refresh failed', err);
    }
  };
}

function poll(fn, ms) {
  const run = guarded(fn);
  void run();
  return setInterval(run, ms);
}

/** live: like poll, with an interval that can change (live: slow; polling: POLL_MS). */
function adjustablePoll(fn, ms) {
  let timer;
  let current = ms;
  const run = guarded(fn);
  void run();
  timer = setInterval(run, current);
  return {
    every(next) {
      if (next === current) return;
      current = next;
      clearInterval(timer);
      timer = setInterval(run, current);
    },
  };
}

function boot() {
  showTokenState();
  $('#token-button').addEventListener('click', () => void askToken());
  $('#pause-all').addEventListener('click', () => void act('pause'));
  $('#resume-all').addEventListener('click', () => void act('resume'));
  $('#host-select').addEventListener('change', (e) => setHost(e.target.value));
  $('.host-filter').classList.toggle('filtered', !!selectedHost);
  poll(refreshHosts, POLL_MS.hosts);
  poll(refreshHealth, POLL_MS.health);
  // live: workflows and runs are pushed while the stream is up (a slow safety poll then), polled otherwise.
  const workflowsPoll = adjustablePoll(refreshWorkflows, POLL_MS.workflows);
  const runsPoll = adjustablePoll(refreshRuns, POLL_MS.runs);
  startLive({
    url: document.body.dataset.events,
    indicator: $('#live-indicator'),
    onRun: applyRuns,
    onWorkflows: () => void refreshWorkflows(),
    onResync: () => void Promise.all([refreshWorkflows(), refreshRuns()]),
    onMode: (mode) => {
      workflowsPoll.every(mode === 'live' ? LIVE_SAFETY_POLL_MS : POLL_MS.workflows);
      runsPoll.every(mode === 'live' ? LIVE_SAFETY_POLL_MS : POLL_MS.runs);
    },
  });
  void loadPanels();
  installRunView(panelApi, { onChange: () => void refreshRuns() });
  // Relative times ("12s ago") tick between polls.
  setInterval(tickTimes, 1000);
}

boot();
