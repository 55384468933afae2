// tideflow dashboard: live updates over server-sent events (GET /api/events).
// Run records and workflow changes from every process of the cluster arrive
// as they happen; when the stream cannot be had, the page polls instead and
// the top bar says so.

/** Run events are applied in batches this often at most (a burst of saves is one re-render). */
const BATCH_MS = 50;
/** Our own reconnect after the browser gave up (a 503, a non-stream answer): doubling up to the last. */
const RETRY_MS = [2000, 5000, 10000, 30000];

/**
 * Opens the stream and calls:
 * - `onRun(records)` with the newest record of each run that changed (a batch),
 * - `onWorkflows(change)` when workflows or pauses changed,
 * - `onResync()` when events may have been missed (reconnected): read everything again,
 * - `onMode('live' | 'polling')` when the page should stop or resume polling.
 * Without `url` (the engine serves no stream) it only reports 'polling'.
 */
export function startLive({ url, onRun, onWorkflows, onResync, onMode, indicator }) {
  let mode;
  const setMode = (m, why) => {
    if (indicator) {
      indicator.dataset.mode = m;
      indicator.textContent = m === 'live' ? 'live' : 'polling';
      indicator.title = m === 'live' ? 'Changes arrive as they happen (server-sent events)' : `Refreshing every few seconds${why ? `: ${why}` : ''}`;
    }
    if (m === mode) return;
    mode = m;
    onMode(m);
  };
  if (!url || typeof EventSource !== 'function') {
    setMode('polling', 'this engine serves no live events');
    return { close() {} };
  }

  let source;
  let retry = 0;
  let retryTimer;
  let everReady = false;
  let pending = new Map();
  let batchTimer;

  const flush = () => {
    batchTimer = undefined;
    const runs = [...pending.values()];
    pending = new Map();
    if (runs.length) onRun(runs);
  };

  const open = () => {
    source = new EventSource(url);
    source.addEventListener('ready', () => {
      retry = 0;
      setMode('live');
      // Whatever happened while we were not listening is read once.
      if (everReady) onResync();
      everReady = true;
    });
    source.addEventListener('run', (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (!msg?.run?.id) return;
      pending.set(msg.run.id, msg.run);
      batchTimer ??= setTimeout(flush, BATCH_MS);
    });
    source.addEventListener('workflows', (e) => {
      let change;
      try {
        change = JSON.parse(e.data);
      } catch {
        change = {};
      }
      onWorkflows(change);
    });
    source.addEventListener('resync', () => onResync());
    source.onerror = () => {
      setMode('polling', 'the live stream was interrupted');
      // CONNECTING: the browser retries by itself (the stream's `retry`). CLOSED: it gave up; we try again later.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        clearTimeout(retryTimer);
        retryTimer = setTimeout(open, RETRY_MS[Math.min(retry++, RETRY_MS.length - 1)]);
      }
    };
  };
  setMode('polling', 'connecting to the live stream');
  open();
  return {
    close() {
      clearTimeout(retryTimer);
      clearTimeout(batchTimer);
      source?.close();
    },
  };
}
