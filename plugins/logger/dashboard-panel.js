// The logger plugin's dashboard panel (a browser ES module; see core/api/dashboard/README.md).
// GET /api/logs: { items: [{ time, containerId, name, image, class, cpuPct, memBytes, memPct, reason, killError?, host }] },
// narrowed to the host chosen in the page's top bar (ui.host()).

const REFRESH_MS = 5000;

export default function killedPanel(ui) {
  const { h, getJson, timeCell, badge, pct, bytes } = ui;
  const { body, note } = ui.addPanel({ id: 'killed', title: 'Latest killed containers', place: 'column' });
  const tbody = h('tbody');
  const head = ['When', 'Container', 'Image', 'Class', 'CPU', 'Memory', 'Reason'].map((t) => h('th', t === 'CPU' || t === 'Memory' ? { class: 'num' } : {}, t));
  body.append(h('div', { class: 'table-wrap' }, h('table', { id: 'killed' }, h('thead', {}, h('tr', {}, ...head)), tbody)));
  const empty = (text) => tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, text)));

  async function refresh() {
    const host = ui.host();
    const { status, ok, body: b } = await getJson(`/api/logs?kind=killed&limit=10${host ? `&host=${encodeURIComponent(host)}` : ''}`);
    // The host was changed meanwhile: the newer request renders.
    if (host !== ui.host()) return;
    if (!ok) {
      note.textContent = `could not load logs (${status})`;
      empty('No data.');
      return;
    }
    const rows = b?.items ?? [];
    note.textContent = rows.length ? `last ${rows.length}${host ? ` on ${host}` : ''}` : '';
    if (!rows.length) return empty(host ? `No container killed on ${host} yet.` : 'No container killed yet.');
    tbody.replaceChildren(
      ...rows.map((r) => {
        const name = r.name ?? (r.containerId ?? '').slice(0, 12);
        return h(
          'tr',
          {},
          timeCell(r.time),
          h('td', { class: 'mono clip', title: `${name}\n${r.containerId ?? ''}` }, name),
          h('td', { class: 'mono clip', title: r.image ?? '' }, r.image ?? '—'),
          h('td', {}, r.class ? badge(r.class, `class-${r.class}`) : '—'),
          h('td', { class: 'num' }, pct(r.cpuPct)),
          h('td', { class: 'num' }, r.memBytes !== undefined && r.memBytes !== null ? bytes(r.memBytes) : pct(r.memPct)),
          h('td', { class: 'reason', title: r.killError ? `kill failed: ${r.killError}` : '' }, r.reason ?? '', r.killError ? h('span', { class: 'badge failed' }, 'kill failed') : null),
        );
      }),
    );
  }

  ui.every(refresh, REFRESH_MS);
  ui.onHostChange(() => void refresh().catch((err) => console.warn('killed panel refresh failed', err)));
}
