// tideflow dashboard: the run view, a side panel opened by `#run=<id>` (a click on a recent run).
// Shows the run's status, its attempts, what it logged, its input and output,
// the run that caused it (a link to its own view) and Cancel while it is going.
// Plain ES module; DOM built with `h` (text, never HTML); same-origin requests only.

const REFRESH_MS = 1000;
const GOING = new Set(['queued', 'running', 'retrying']);

/** The run id in the location hash (`#run=<id>`), or undefined. */
function runIdOfHash(hash = location.hash) {
  const m = /^#run=(.+)$/.exec(hash);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
}

/** The hash that opens a run's view. */
export const runHash = (id) => `#run=${encodeURIComponent(id)}`;

/**
 * Installs the run view. `api` is the dashboard's panel API (h, getJson,
 * mutate, toast, badge, absTime, duration); `onChange` is called after a
 * cancel (the page refreshes its runs). Returns `{ open(id), close() }`.
 */
export default function installRunView(api, { onChange } = {}) {
  const { h, getJson, mutate, toast, badge, absTime, duration } = api;
  document.head.append(h('link', { rel: 'stylesheet', href: '/dashboard/run-view.css' }));

  const title = h('h2', { class: 'run-view-title' });
  const status = h('span', { class: 'run-view-status' });
  const cancelBtn = h('button', { type: 'button', class: 'btn small', dataset: { action: 'cancel-run' }, hidden: true, onclick: () => void cancel() }, 'Cancel');
  const closeBtn = h('button', { type: 'button', class: 'btn small ghost', dataset: { action: 'close-run' }, title: 'Close (Esc)', onclick: () => close() }, '✕');
  const idLine = h('div', { class: 'mono small muted run-view-id' });
  const facts = h('dl', { class: 'run-facts' });
  const attempts = h('ol', { class: 'run-attempts' });
  const logNote = h('div', { class: 'muted small run-log-note' });
  const log = h('div', { class: 'run-log mono', tabindex: 0 });
  const input = h('div', { class: 'run-io', dataset: { io: 'input' } });
  const output = h('div', { class: 'run-io', dataset: { io: 'output' } });
  const panel = h(
    'aside',
    { id: 'run-view', class: 'run-view', role: 'dialog', 'aria-label': 'Run', hidden: true },
    h('div', { class: 'run-view-head' }, title, status, h('span', { class: 'spacer' }), cancelBtn, closeBtn),
    idLine,
    facts,
    h('h3', {}, 'Attempts'),
    attempts,
    h('h3', {}, 'Log'),
    logNote,
    log,
    h('h3', {}, 'Input'),
    input,
    h('h3', {}, 'Output'),
    output,
  );
  document.body.append(panel);

  let current; // the run id shown
  let timer;
  let record;
  const signatures = {};

  /** Re-renders a part only when its data changed, so scroll positions and selections stay. */
  function changed(part, data) {
    const sig = JSON.stringify(data);
    if (signatures[part] === sig) return false;
    signatures[part] = sig;
    return true;
  }

  function fact(label, value) {
    return value === undefined || value === null || value === '' ? [] : [h('dt', {}, label), h('dd', {}, value)];
  }

  function renderRecord(r) {
    title.textContent = `${r.workflow}/${r.job}`;
    status.replaceChildren(badge(r.status));
    panel.dataset.status = r.status;
    cancelBtn.hidden = !GOING.has(r.status);
    idLine.textContent = r.id;
    facts.replaceChildren(
      ...fact('Trigger', r.trigger),
      ...fact('Plugin', r.plugin),
      ...fact('Host', r.host),
      ...fact('Caused by', r.causedBy ? h('a', { href: runHash(r.causedBy), class: 'mono', dataset: { causedBy: r.causedBy } }, r.causedBy) : undefined),
      ...fact('Queued', absTime(r.queuedAt)),
      ...fact('Started', r.startedAt ? absTime(r.startedAt) : undefined),
      ...fact('Finished', r.finishedAt ? absTime(r.finishedAt) : undefined),
      ...fact('Duration', r.durationMs !== undefined ? duration(r.durationMs) : undefined),
      ...fact('Attempts', String(r.attempts)),
      ...fact('Error', r.error ? h('span', { class: 'run-error' }, r.error) : undefined),
    );
  }

  function renderAttempts(list) {
    attempts.replaceChildren(
      ...(list.length
        ? list.map((a) =>
            h(
              'li',
              { dataset: { attempt: String(a.attempt), status: a.status } },
              h('span', { class: 'attempt-n' }, `#${a.attempt}`),
              badge(a.status === 'retrying' ? 'failed, retried' : a.status, a.status === 'interrupted' ? 'failed' : a.status),
              h('span', { class: 'muted small' }, a.startedAt ? ` started ${absTime(a.startedAt)}` : ''),
              a.durationMs !== undefined ? h('span', { class: 'muted small' }, ` · ${duration(a.durationMs)}`) : null,
              a.host ? h('span', { class: 'muted small' }, ` · ${a.host}`) : null,
              a.error ? h('div', { class: 'run-error small' }, a.error) : null,
            ),
          )
        : [h('li', { class: 'empty' }, 'No attempt has started yet.')]),
    );
  }

  function renderLogs(body) {
    logNote.textContent = body.dropped ? `${body.dropped} earlier line${body.dropped === 1 ? '' : 's'} dropped (the newest ${body.lines.length} of ${body.total} kept)` : '';
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.replaceChildren(
      ...(body.lines.length
        ? body.lines.map((l) =>
            h(
              'div',
              { class: `log-line ${l.level}`, dataset: { attempt: String(l.attempt) } },
              h('span', { class: 'log-time', title: absTime(l.t) }, new Date(l.t).toLocaleTimeString()),
              h('span', { class: 'log-level' }, l.level),
              h('span', { class: 'log-attempt', title: `attempt ${l.attempt}` }, `#${l.attempt}`),
              h('span', { class: 'log-msg' }, l.msg),
              l.fields ? h('span', { class: 'log-fields' }, JSON.stringify(l.fields)) : null,
              l.truncated ? h('span', { class: 'muted' }, ` (cut, was ${l.truncated} bytes)`) : null,
            ),
          )
        : [h('div', { class: 'empty' }, 'Nothing logged.')]),
    );
    // Follow the tail while the reader is at the bottom.
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function renderIo(el, value, none) {
    if (!value) {
      el.replaceChildren(h('div', { class: 'empty' }, none));
      return;
    }
    el.replaceChildren(
      value.truncated
        ? h('div', { class: 'muted small io-note' }, `${value.bytes} bytes of JSON: only the first ${new Blob([value.preview]).size} are kept`)
        : h('div', { class: 'muted small io-note' }, `${value.bytes} bytes of JSON`),
      h('pre', { class: 'json' }, value.truncated ? `${value.preview}…` : JSON.stringify(value.value, null, 2)),
    );
  }

  async function refresh() {
    const id = current;
    if (id === undefined) return;
    const enc = encodeURIComponent(id);
    // The record first: once it says the run ended, the log, io and attempts read after it are complete (the engine writes them before).
    const run = await getJson(`/api/runs/${enc}`);
    const [logs, io, att] = await Promise.all([
      getJson(`/api/runs/${enc}/logs`),
      getJson(`/api/runs/${enc}/io`),
      getJson(`/api/runs/${enc}/attempts`),
    ]);
    if (id !== current) return; // another run was opened meanwhile
    if (run.status === 404) {
      title.textContent = 'Unknown run';
      idLine.textContent = `${id}: ${run.body?.message ?? 'not found'}`;
      panel.dataset.status = 'unknown';
      cancelBtn.hidden = true;
      return;
    }
    if (!run.ok) return;
    record = run.body;
    if (changed('record', record)) renderRecord(record);
    if (att.ok && changed('attempts', att.body.attempts)) renderAttempts(att.body.attempts);
    if (logs.ok && changed('logs', logs.body)) renderLogs(logs.body);
    if (io.ok && changed('io', io.body)) {
      renderIo(input, io.body.input, record.startedAt ? 'No input.' : 'Recorded when it starts.');
      renderIo(output, io.body.output, record.status === 'succeeded' ? 'It returned nothing.' : 'None yet: recorded when it succeeds.');
    }
    // A finished run changes no more: stop polling.
    if (!GOING.has(record.status)) stop();
  }

  function stop() {
    clearInterval(timer);
    timer = undefined;
  }

  function open(id) {
    if (current === id && !panel.hidden) return;
    stop();
    current = id;
    record = undefined;
    for (const k of Object.keys(signatures)) delete signatures[k];
    panel.dataset.run = id;
    panel.dataset.status = '';
    title.textContent = 'Run';
    status.replaceChildren();
    idLine.textContent = id;
    for (const el of [facts, attempts, log, input, output]) el.replaceChildren();
    logNote.textContent = '';
    cancelBtn.hidden = true;
    panel.hidden = false;
    const tick = () => refresh().catch((err) => console.warn('run view refresh failed', err));
    void tick();
    timer = setInterval(tick, REFRESH_MS);
  }

  function close() {
    stop();
    current = undefined;
    panel.hidden = true;
    if (runIdOfHash() !== undefined) history.replaceState(null, '', location.pathname + location.search);
  }

  async function cancel() {
    if (!record) return;
    const id = record.id;
    const res = await mutate(`/api/runs/${encodeURIComponent(id)}/cancel`);
    if (res === undefined) return;
    toast(res.status === 'cancelled' ? `Cancelled run ${id}` : `Cancelling run ${id}…`, 'ok');
    if (!timer && current === id) timer = setInterval(() => void refresh().catch(() => undefined), REFRESH_MS);
    await refresh();
    onChange?.();
  }

  const follow = () => {
    const id = runIdOfHash();
    if (id === undefined) {
      if (!panel.hidden) close();
    } else open(id);
  };
  window.addEventListener('hashchange', follow);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden && !document.querySelector('dialog[open]')) close();
  });
  follow();
  return { open: (id) => (location.hash = runHash(id)), close };
}
