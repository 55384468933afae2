// The charts plugin's dashboard panel (a browser ES module; see core/api/dashboard/README.md).
// GET /api/charts: { charts: [{ name, title, time, png: { url, bytes } }] }.

const REFRESH_MS = 4000;

export default function chartsPanel(ui) {
  const { h, $, getJson, toMs, relTime, absTime } = ui;
  const { body, note } = ui.addPanel({ id: 'charts', title: 'Charts', place: 'top' });
  const root = h('div', { id: 'charts', class: 'chart-grid' });
  body.append(root);
  const chartCards = new Map();

  const normalize = (b) =>
    (b?.charts ?? []).map((c) => ({ name: c.name, url: c.png.url, updatedAt: c.time, title: c.title ?? c.name })).sort((a, b2) => a.name.localeCompare(b2.name));
  const cacheBust = (url, version) => `${url}${url.includes('?') ? '&' : '?'}v=${encodeURIComponent(String(version))}`;

  async function refresh() {
    const { status, ok, body: b } = await getJson('/api/charts');
    if (!ok) {
      note.textContent = `could not load charts (${status})`;
      if (!chartCards.size) root.replaceChildren(h('p', { class: 'empty' }, 'No charts available.'));
      return;
    }
    const charts = normalize(b);
    const seen = new Set();
    for (const c of charts) {
      seen.add(c.name);
      let card = chartCards.get(c.name);
      if (!card) {
        const img = h('img', { class: 'chart-img', alt: c.title, loading: 'eager', decoding: 'async' });
        img.addEventListener('load', () => card.el.classList.remove('loading'));
        img.addEventListener('error', () => card.el.classList.add('broken'));
        const el = h(
          'figure',
          { class: 'chart loading', dataset: { chart: c.name } },
          h('a', { href: c.url, target: '_blank', rel: 'noopener' }, img),
          h('figcaption', {}, h('span', { class: 'chart-name' }, c.title), h('span', { class: 'muted small chart-time' })),
        );
        card = { el, img, version: undefined };
        chartCards.set(c.name, card);
      }
      const version = `${c.updatedAt}`;
      if (card.version !== version) {
        card.version = version;
        card.el.classList.remove('broken');
        card.img.src = cacheBust(c.url, version || Date.now());
      }
      const timeEl = $('.chart-time', card.el);
      const ms = toMs(c.updatedAt);
      if (ms !== undefined && ms > 1e11) {
        timeEl.dataset.rel = String(ms);
        timeEl.textContent = relTime(ms);
        timeEl.title = `rendered ${absTime(ms)}`;
      }
    }
    for (const [name, card] of chartCards) {
      if (!seen.has(name)) {
        card.el.remove();
        chartCards.delete(name);
      }
    }
    const cards = [...chartCards.values()].map((c) => c.el);
    if (cards.length) {
      // Keep existing nodes (no flicker): only append the missing ones in order.
      cards.forEach((el) => root.append(el));
      root.querySelectorAll(':scope > p.empty').forEach((p) => p.remove());
    } else {
      root.replaceChildren(h('p', { class: 'empty' }, 'No charts yet — the chart job renders them on its schedule.'));
    }
    note.textContent = charts.length ? `${charts.length} chart${charts.length === 1 ? '' : 's'}, refreshed when re-rendered` : '';
  }

  ui.every(refresh, REFRESH_MS);
}
