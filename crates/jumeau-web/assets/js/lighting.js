// The public lighting view: map of points lumineux by state and compliance, savings chart,
// schedule editor with its 24-hour preview, emergency lighting (with confirmation) and the
// compliance report. Reads with the page's tenant; writes use the key of the « Accès agent » box.
import { settings, serviceCall, showError, clearError } from './api.js';
import { t, num, currentLang } from './i18n.js';
import { el, legendItem } from './list.js';
import { svg } from './chart.js';

const BASE = '/jumeau/v1/lighting';
/** Colours of the states: dark enough for 3:1 against the map and white. */
const STATES = { on: '#b34700', dimmed: '#7a5c00', off: '#4a4a4a', emergency: '#b3151b', fault: '#6a1b9a' };
/** Stroke of the compliance: non-compliant and to replace stand out. */
const COMPLIANCE = { compliant: '#ffffff', missingData: '#8a8a8a', upgrade: '#000091', replace: '#000000', nonCompliant: '#000000' };

/** States drawn one by one at every zoom, above the groups: a fault (or a point lit for an
 * emergency) is never hidden in a group. */
const ALONE = new Set(['fault', 'emergency']);
/** The colour of a group of working points (on, dimmed or off), 3:1 against the map. */
const GROUP = '#37474f';
/** Up to this zoom the working points are grouped; from the next one each is drawn. Over a
 * whole commune thousands of points would overlap into one blot and cost the most to draw
 * at each frame of a move. */
const GROUP_MAX_ZOOM = 15;

let started = false;
let map = null;
let points = { type: 'FeatureCollection', features: [] };

const $ = (id) => document.getElementById(id);

/** Refusals the lighting view words itself. */
const KNOWN_ERRORS = { 401: 'lighting.err401', 403: 'lighting.err403', 504: 'lighting.err504' };

/** A call to the lighting API with the page's tenant and the key of « Accès agent ». */
const call = (method, path, body, accept = 'application/json') => serviceCall(BASE + path, method, body, {
  accept, errorText: (status, detail) => t(KNOWN_ERRORS[status] || 'lighting.errOther', { status, detail }),
});

/** Announces a result in the view's live region. */
const say = (text) => { $('lt-status').textContent = text; };

// -- map ---------------------------------------------------------------------------------

function drawMap() {
  const features = points.features;
  const counts = {};
  for (const f of features) counts[f.properties.state] = (counts[f.properties.state] || 0) + 1;
  const legend = $('lt-legend');
  legend.replaceChildren(...Object.entries(STATES).map(([state, colour]) =>
    legendItem(colour, `${t(`lighting.state.${state}`)} (${num(counts[state] || 0)})`)),
  legendItem(GROUP, t('lighting.map.group')));
  const byCompliance = {};
  for (const f of features) byCompliance[f.properties.compliance] = (byCompliance[f.properties.compliance] || 0) + 1;
  $('lt-compliance-counts').textContent = Object.entries(byCompliance)
    .map(([c, n]) => `${t(`lighting.compliance.${c}`)} : ${num(n)}`).join(' · ');
  if (!map) return;
  const src = map.getSource && map.getSource('lt-points');
  if (src) {
    src.setData({ type: 'FeatureCollection', features: features.filter((f) => !ALONE.has(f.properties.state)) });
    map.getSource('lt-alone').setData({ type: 'FeatureCollection', features: features.filter((f) => ALONE.has(f.properties.state)) });
  }
  if (features.length) {
    const xs = features.map((f) => f.geometry.coordinates[0]);
    const ys = features.map((f) => f.geometry.coordinates[1]);
    map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, maxZoom: 17, duration: 0 });
  }
}

/**
 * A size growing with the zoom, full from the street's scale: over a whole commune or more,
 * thousands of full-size points would overlap into one blot, and cost more to draw at each
 * frame of a move.
 */
const byZoom = (far, near) => ['interpolate', ['linear'], ['zoom'], 12, far, 16, near];

function initMap() {
  if (!window.maplibregl) return;
  try {
    map = new window.maplibregl.Map({
      container: $('lt-map'),
      style: settings.basemap || { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#eef0ec' } }] },
      center: [2.5, 46.6],
      zoom: 5,
      attributionControl: settings.basemap ? undefined : false,
      locale: { 'Map.Title': t('lighting.map.label') },
    });
  } catch {
    $('lt-map').textContent = t('map.nowebgl');
    map = null;
    return;
  }
  window.jumeau = { ...(window.jumeau || {}), lightingMap: map };
  map.on('load', () => {
    // The working points, grouped at low zoom; the faults and emergencies in a source of
    // their own, never grouped, drawn above. Groups and single points share one layer (each
    // layer costs its draw calls at every frame).
    const empty = { type: 'FeatureCollection', features: [] };
    // Tile margins just wider than the largest circle (a group: 15 px and its stroke).
    map.addSource('lt-points', { type: 'geojson', data: empty, cluster: true, clusterRadius: 30, clusterMaxZoom: GROUP_MAX_ZOOM, buffer: 32 });
    map.addSource('lt-alone', { type: 'geojson', data: empty, buffer: 16 });
    const state = ['match', ['get', 'state'], ...Object.entries(STATES).flat(), '#4a4a4a'];
    const stroke = ['match', ['get', 'compliance'], ...Object.entries(COMPLIANCE).flat(), '#ffffff'];
    const group = (g, one) => ['case', ['has', 'point_count'], g, one];
    // The zoom can only come first in an expression: the size of a group at both ends.
    const groupOrByZoom = (g, far, near) => ['interpolate', ['linear'], ['zoom'], 12, group(g, far), 16, group(g, near)];
    const groupSize = ['step', ['get', 'point_count'], 8, 10, 11, 50, 15];
    map.addLayer({ id: 'lt-points', type: 'circle', source: 'lt-points',
      paint: { 'circle-radius': groupOrByZoom(groupSize, 2.5, 6),
        'circle-color': group(GROUP, state), 'circle-opacity': group(0.8, 1),
        'circle-stroke-color': group('#ffffff', stroke), 'circle-stroke-width': groupOrByZoom(1.5, 1, 2) } });
    map.addLayer({ id: 'lt-alone', type: 'circle', source: 'lt-alone',
      paint: { 'circle-radius': byZoom(4, 7), 'circle-color': state, 'circle-stroke-color': stroke, 'circle-stroke-width': byZoom(1.5, 2) } });
    // A group opens (the map zooms in) when clicked.
    map.on('click', 'lt-points', async (e) => {
      const f = e.features[0];
      if (!f?.properties.cluster) return;
      const zoom = await map.getSource('lt-points').getClusterExpansionZoom(f.properties.cluster_id);
      map.easeTo({ center: f.geometry.coordinates, zoom });
    });
    map.on('mouseenter', 'lt-points', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'lt-points', () => { map.getCanvas().style.cursor = ''; });
    drawMap();
  });
}

async function loadMap() {
  points = await call('GET', '/map', undefined, 'application/geo+json');
  drawMap();
  fillTargets();
}

// -- savings -----------------------------------------------------------------------------

/** Monthly bars: baseline and actual (measured, else scheduled) kWh. */
function savingsChart(totals) {
  const W = 360; const H = 160; const P = { l: 44, b: 22, t: 8, r: 6 };
  const actual = (m) => (m.measuredKwh > 0 ? m.measuredKwh : m.scheduledKwh);
  const max = Math.max(1, ...totals.map((m) => m.baselineKwh || 0));
  const saved = totals.reduce((s, m) => s + (m.savingsKwh || 0), 0);
  const eur = totals.reduce((s, m) => s + (m.savingsEur || 0), 0);
  const co2 = totals.reduce((s, m) => s + (m.savingsKgCo2e || 0), 0);
  const summary = t('lighting.savings.summary', { kwh: num(saved), eur: num(eur), co2: num(co2) });
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'chart' });
  root.append(svg('title', {}, summary));
  const bw = (W - P.l - P.r) / 12;
  const y = (v) => P.t + (1 - v / max) * (H - P.t - P.b);
  totals.forEach((m, i) => {
    const x = P.l + i * bw;
    root.append(svg('rect', { x: x + 1, y: y(m.baselineKwh || 0), width: bw / 2 - 1, height: H - P.b - y(m.baselineKwh || 0), class: 'lt-base' }));
    root.append(svg('rect', { x: x + bw / 2, y: y(actual(m) || 0), width: bw / 2 - 1, height: H - P.b - y(actual(m) || 0), class: 'lt-actual' }));
    root.append(svg('text', { x: x + bw / 2, y: H - 6, 'text-anchor': 'middle' },
      new Intl.DateTimeFormat(currentLang(), { month: 'narrow' }).format(new Date(2001, i, 1))));
  });
  root.append(svg('text', { x: P.l - 4, y: P.t + 8, 'text-anchor': 'end' }, num(max)));
  root.append(svg('text', { x: P.l - 4, y: H - P.b, 'text-anchor': 'end' }, '0'));
  return { root, summary };
}

async function loadSavings() {
  const year = Number($('lt-year').value) || new Date().getFullYear();
  const report = await call('GET', `/energy?year=${year}`);
  const { root, summary } = savingsChart(report.totals || []);
  const table = el('table', {}, el('caption', { text: t('lighting.savings.caption', { year }) }),
    el('thead', {}, el('tr', {}, ...['month', 'baseline', 'actual', 'saved', 'eur', 'co2'].map((c) => el('th', { scope: 'col', text: t(`lighting.savings.${c}`) })))),
    el('tbody', {}, ...(report.totals || []).map((m) => el('tr', {},
      el('th', { scope: 'row', text: new Intl.DateTimeFormat(currentLang(), { month: 'long' }).format(new Date(2001, m.month - 1, 1)) }),
      ...[m.baselineKwh, m.measuredKwh > 0 ? m.measuredKwh : m.scheduledKwh, m.savingsKwh, m.savingsEur, m.savingsKgCo2e].map((v) => el('td', { text: num(v || 0) }))))));
  const details = el('details', {}, el('summary', { text: t('lighting.savings.table') }), table);
  $('lt-savings').replaceChildren(el('p', { text: summary }), root,
    el('p', { class: 'note' }, el('span', { class: 'swatch lt-base-swatch', 'aria-hidden': 'true' }), ` ${t('lighting.savings.baseline')} `,
      el('span', { class: 'swatch lt-actual-swatch', 'aria-hidden': 'true' }), ` ${t('lighting.savings.actual')}`), details);
}

// -- schedule editor ---------------------------------------------------------------------

function fillTargets() {
  const select = $('lt-target');
  const seen = new Map();
  for (const f of points.features) {
    const { group, cabinet } = f.properties;
    if (group) seen.set(`group|${group}`, `${t('lighting.group')} ${group.split(':').pop()}`);
    if (cabinet) seen.set(`cabinet|${cabinet}`, `${t('lighting.cabinet')} ${cabinet.split(':').pop()}`);
  }
  const current = select.value;
  select.replaceChildren(...[...seen].map(([v, label]) => el('option', { value: v, text: label })));
  if (current) select.value = current;
}

const target = () => {
  const [kind, id] = ($('lt-target').value || '').split('|');
  return id ? { kind, id } : null;
};

/** The program the editor describes. */
function program() {
  const hm = (v) => `${v || '00:00'}:00`;
  const steps = [];
  if ($('lt-dim-at').value) steps.push({ at: hm($('lt-dim-at').value), levelPct: Number($('lt-dim-level').value) });
  const switchOff = [];
  if ($('lt-off-start').value && $('lt-off-end').value) switchOff.push({ start: hm($('lt-off-start').value), end: hm($('lt-off-end').value) });
  const name = $('lt-name').value.trim() || t('lighting.program.defaultName');
  return {
    id: name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase() || 'programme',
    name,
    onOffsetMin: Number($('lt-on-offset').value) || 0,
    offOffsetMin: Number($('lt-off-offset').value) || 0,
    plan: { initialLevelPct: Number($('lt-initial').value), steps, switchOff },
  };
}

/** The 24-hour step chart of a preview. */
function previewChart(p) {
  const W = 360; const H = 140; const P = { l: 36, b: 22, t: 8, r: 6 };
  const pts = p.points || [];
  const x = (i) => P.l + (pts.length < 2 ? 0 : (i / (pts.length - 1)) * (W - P.l - P.r));
  const y = (v) => P.t + (1 - v / 100) * (H - P.t - P.b);
  const time = (s) => s.slice(11, 16);
  const lit = pts.filter((q) => q.levelPct > 0);
  const summary = lit.length
    ? t('lighting.preview.summary', { from: time(lit[0].local), to: time(lit[lit.length - 1].local), max: num(Math.max(...lit.map((q) => q.levelPct))) })
    : t('lighting.preview.dark');
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'chart' });
  root.append(svg('title', {}, summary));
  let d = '';
  pts.forEach((q, i) => { d += `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(q.levelPct).toFixed(1)} `; if (i + 1 < pts.length) d += `L${x(i + 1).toFixed(1)},${y(q.levelPct).toFixed(1)} `; });
  root.append(svg('path', { d, class: 'series' }));
  root.append(svg('text', { x: P.l - 4, y: P.t + 8, 'text-anchor': 'end' }, '100 %'));
  root.append(svg('text', { x: P.l - 4, y: H - P.b, 'text-anchor': 'end' }, '0'));
  pts.forEach((q, i) => { if (i % 12 === 0) root.append(svg('text', { x: x(i), y: H - 6, 'text-anchor': 'middle' }, time(q.local))); });
  return { root, summary };
}

async function preview() {
  const tg = target();
  const body = { program: program(), targets: tg ? [tg] : [], stepMin: 15 };
  if (!tg) {
    // No armoire yet: the sun times of the first point lumineux, else of Paris.
    const [lon, lat] = points.features[0]?.geometry.coordinates || [2.3522, 48.8566];
    Object.assign(body, { lon, lat });
  }
  if ($('lt-date').value) body.date = $('lt-date').value;
  const p = await call('POST', '/preview', body);
  const { root, summary } = previewChart(p);
  const problems = (p.problems || []).length
    ? el('ul', { class: 'error-inline' }, ...p.problems.map((x) => el('li', { text: x })))
    : el('p', { text: t('lighting.preview.ok') });
  $('lt-preview').replaceChildren(el('p', { text: summary }), root, problems);
}

async function saveProgram() {
  const tg = target();
  if (!tg) { say(t('lighting.program.noTarget')); return; }
  const saved = await call('POST', `/programs?why=${encodeURIComponent(t('lighting.program.why'))}`, { ...program(), targets: [tg] });
  say(t('lighting.program.saved', { name: saved.name }));
}

// -- emergency ---------------------------------------------------------------------------

function askEmergency(e) {
  e.preventDefault();
  if (!$('lt-why').value.trim()) { say(t('lighting.emergency.needWhy')); $('lt-why').focus(); return; }
  $('lt-confirm-text').textContent = t('lighting.emergency.confirmText', {
    radius: num(Number($('lt-radius').value)), minutes: num(Number($('lt-duration').value)) });
  $('lt-confirm').showModal();
}

async function startEmergency() {
  $('lt-confirm').close();
  const centre = points.features[0]?.geometry.coordinates || [0, 0];
  const lon = Number($('lt-lon').value) || centre[0];
  const lat = Number($('lt-lat').value) || centre[1];
  const o = await call('POST', '/emergency', {
    area: { kind: 'circle', lon, lat, radiusM: Number($('lt-radius').value) },
    durationMin: Number($('lt-duration').value),
    why: $('lt-why').value.trim(),
  });
  say(t('lighting.emergency.started', { n: o.targets.length, until: new Date(o.until).toLocaleTimeString(currentLang()) }));
  await Promise.all([loadMap(), loadEmergencies()]);
}

async function loadEmergencies() {
  const list = await call('GET', '/emergency');
  const active = list.filter((o) => o.status === 'active');
  $('lt-active').replaceChildren(active.length
    ? el('ul', {}, ...active.map((o) => el('li', { text: t('lighting.emergency.item', { why: o.why, until: new Date(o.until).toLocaleTimeString(currentLang()), n: o.targets.length }) })))
    : el('p', { text: t('lighting.emergency.none') }));
}

// -- compliance --------------------------------------------------------------------------

async function loadCompliance() {
  const r = await call('GET', '/compliance');
  const rows = r.findings.slice(0, 200).map((f) => el('tr', {},
    el('td', { text: f.subjectId.split(':').pop() }), el('td', { text: f.ruleLabel }),
    el('td', { text: f.severityLabel }), el('td', { text: f.message })));
  $('lt-report').replaceChildren(
    el('p', { text: t('lighting.report.summary', { checked: num(r.streetlightsChecked), ok: num(r.streetlightsCompliant), findings: num(r.findings.length) }) }),
    el('table', {}, el('caption', { text: t('lighting.report.caption', { commune: r.commune, date: r.checkedOn }) }),
      el('thead', {}, el('tr', {}, ...['id', 'rule', 'severity', 'message'].map((c) => el('th', { scope: 'col', text: t(`lighting.report.${c}`) })))),
      el('tbody', {}, ...rows)));
}

async function exportCsv() {
  const text = await call('GET', '/compliance?format=csv', undefined, 'text/csv');
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: `conformite-${settings.tenant}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
}

// -- the view ----------------------------------------------------------------------------

const field = (id, label, attrs = {}) => el('p', {}, el('label', { for: id, text: t(label) }), ' ', el('input', { id, ...attrs }));

/** Builds the view once. */
function build(root) {
  const guard = (f) => async (e) => {
    e?.preventDefault?.();
    try { clearError(); await f(); } catch (err) { showError(err); say(err.message || ''); }
  };
  root.replaceChildren(
    el('p', { id: 'lt-status', class: 'status', role: 'status', 'aria-live': 'polite' }),
    el('section', { 'aria-labelledby': 'lt-map-title' },
      el('h2', { id: 'lt-map-title', text: t('lighting.map.title') }),
      el('div', { class: 'twin' },
        el('div', { class: 'side' }, el('ul', { id: 'lt-legend', class: 'legend', 'aria-label': t('lighting.map.legend') }),
          el('p', { id: 'lt-compliance-counts', class: 'note' })),
        el('div', { id: 'lt-map', class: 'map' }))),
    el('section', { 'aria-labelledby': 'lt-savings-title' },
      el('h2', { id: 'lt-savings-title', text: t('lighting.savings.title') }),
      field('lt-year', 'lighting.savings.year', { type: 'number', min: 2000, max: 2100, value: new Date().getFullYear() }),
      el('div', { id: 'lt-savings', 'aria-live': 'polite' })),
    el('section', { 'aria-labelledby': 'lt-program-title' },
      el('h2', { id: 'lt-program-title', text: t('lighting.program.title') }),
      el('form', { id: 'lt-program', class: 'lt-form' },
        field('lt-name', 'lighting.program.name', { type: 'text', value: t('lighting.program.defaultName') }),
        el('p', {}, el('label', { for: 'lt-target', text: t('lighting.program.target') }), ' ', el('select', { id: 'lt-target' })),
        field('lt-date', 'lighting.program.date', { type: 'date' }),
        field('lt-on-offset', 'lighting.program.onOffset', { type: 'number', min: -180, max: 180, value: 0 }),
        field('lt-off-offset', 'lighting.program.offOffset', { type: 'number', min: -180, max: 180, value: 0 }),
        field('lt-initial', 'lighting.program.initial', { type: 'number', min: 0, max: 100, value: 100 }),
        field('lt-dim-at', 'lighting.program.dimAt', { type: 'time', value: '22:00' }),
        field('lt-dim-level', 'lighting.program.dimLevel', { type: 'number', min: 0, max: 100, value: 50 }),
        field('lt-off-start', 'lighting.program.offStart', { type: 'time', value: '00:00' }),
        field('lt-off-end', 'lighting.program.offEnd', { type: 'time', value: '05:00' }),
        el('p', {}, el('button', { type: 'submit', text: t('lighting.program.preview') }), ' ',
          el('button', { type: 'button', id: 'lt-save', text: t('lighting.program.save') }))),
      el('div', { id: 'lt-preview', 'aria-live': 'polite' })),
    el('section', { 'aria-labelledby': 'lt-emergency-title' },
      el('h2', { id: 'lt-emergency-title', text: t('lighting.emergency.title') }),
      el('p', { class: 'note', text: t('lighting.emergency.help') }),
      el('form', { id: 'lt-emergency', class: 'lt-form' },
        field('lt-lat', 'lighting.emergency.lat', { type: 'number', step: 'any' }),
        field('lt-lon', 'lighting.emergency.lon', { type: 'number', step: 'any' }),
        field('lt-radius', 'lighting.emergency.radius', { type: 'number', min: 10, max: 10000, value: 200 }),
        field('lt-duration', 'lighting.emergency.duration', { type: 'number', min: 1, max: 960, value: 60 }),
        field('lt-why', 'lighting.emergency.why', { type: 'text', required: true }),
        el('p', {}, el('button', { type: 'submit', class: 'lt-danger', text: t('lighting.emergency.button') }))),
      el('div', { id: 'lt-active', 'aria-live': 'polite' }),
      el('dialog', { id: 'lt-confirm', 'aria-labelledby': 'lt-confirm-title' },
        el('h3', { id: 'lt-confirm-title', text: t('lighting.emergency.confirmTitle') }),
        el('p', { id: 'lt-confirm-text' }),
        el('p', {}, el('button', { type: 'button', id: 'lt-confirm-yes', class: 'lt-danger', text: t('lighting.emergency.confirm') }), ' ',
          el('button', { type: 'button', id: 'lt-confirm-no', autofocus: true, text: t('lighting.emergency.cancel') })))),
    el('section', { 'aria-labelledby': 'lt-report-title' },
      el('h2', { id: 'lt-report-title', text: t('lighting.report.title') }),
      el('p', {}, el('button', { type: 'button', id: 'lt-csv', text: t('lighting.report.export') })),
      el('div', { id: 'lt-report' })),
  );
  $('lt-year').addEventListener('change', guard(loadSavings));
  $('lt-program').addEventListener('submit', guard(preview));
  $('lt-save').addEventListener('click', guard(saveProgram));
  $('lt-emergency').addEventListener('submit', askEmergency);
  $('lt-confirm-yes').addEventListener('click', guard(startEmergency));
  $('lt-confirm-no').addEventListener('click', () => { $('lt-confirm').close(); say(t('lighting.emergency.cancelled')); });
  $('lt-csv').addEventListener('click', guard(exportCsv));
  initMap();
  return guard(async () => {
    await loadMap();
    await Promise.all([loadSavings(), loadCompliance(), loadEmergencies(), preview()]);
  });
}

/** Shows the lighting view (built and loaded the first time). */
export async function showLighting() {
  const root = $('lighting-root');
  if (!root) return;
  if (!started) {
    started = true;
    await build(root)();
  } else if (map) {
    map.resize();
  }
}

/** Builds the view again in the new language. */
export function relabelLighting() {
  if (!started) return;
  started = false;
  map?.remove();
  map = null;
  if (!$('lighting').hidden) showLighting();
}
