// The drinking-water view: the network map coloured by simulated pressure or by leak
// alert, what-if runs, the minimum night flow of each DMA with its alarms, the leak alerts
// and the yearly indicators with their Grenelle verdict in plain words. Reads with the
// page's tenant; what-if runs need the API key typed in "Accès agent".
import { settings, serviceCall, showError, clearError } from './api.js';
import { t, num, currentLang } from './i18n.js';
import { lineChart } from './chart.js';
import { el, legendItem } from './list.js';

const BASE = '/jumeau/v1/water';
/** Pressure classes (m): colours dark enough for 3:1 against the map background. */
const PRESSURE = [
  { max: 0, colour: '#6a1b9a', key: 'water.p.none' },
  { max: 20, colour: '#b3151b', key: 'water.p.low' },
  { max: 40, colour: '#b34700', key: 'water.p.mid' },
  { max: 70, colour: '#1d6b2f', key: 'water.p.good' },
  { max: Infinity, colour: '#000091', key: 'water.p.high' },
];
const ALERT = '#b3151b';
const PIPE = '#5a5a5a';

let started = false;
let map = null;
let network = null;
let run = null;
let mode = 'pressure';
let geo = { type: 'FeatureCollection', features: [] };

const $ = (id) => document.getElementById(id);

/** A call to the water API with the page's tenant and key. */
const call = (method, path, body) => serviceCall(BASE + path, method, body, {
  errorText: (status, detail) => (status === 401 || status === 403
    ? t('water.errKey') : t('water.errOther', { status, detail })),
});

const say = (text) => { $('wt-status').textContent = text; };

function pressureClass(p) {
  return PRESSURE.find((c) => p < c.max) || PRESSURE[PRESSURE.length - 1];
}

// -- map ---------------------------------------------------------------------------------

function colourFeatures() {
  for (const f of geo.features) {
    const p = f.properties;
    if (f.geometry.type === 'Point') {
      p.colour = mode === 'pressure' && typeof p.pressure === 'number' ? pressureClass(p.pressure).colour : PIPE;
    } else {
      p.colour = p.alert ? ALERT : PIPE;
      p.width = p.alert ? 5 : 2;
    }
  }
}

function drawLegend() {
  const nodes = geo.features.filter((f) => f.geometry.type === 'Point');
  const alerted = geo.features.filter((f) => f.properties.alert).length;
  const items = [];
  if (mode === 'pressure' && nodes.some((f) => typeof f.properties.pressure === 'number')) {
    for (const c of PRESSURE) {
      const n = nodes.filter((f) => typeof f.properties.pressure === 'number' && pressureClass(f.properties.pressure) === c).length;
      items.push(legendItem(c.colour, `${t(c.key)} (${num(n)})`));
    }
  } else if (mode === 'pressure') {
    items.push(el('li', { text: t('water.map.noRun') }));
  }
  items.push(legendItem(ALERT, t('water.map.alerted', { n: num(alerted) })));
  $('wt-legend').replaceChildren(...items);
}

function drawMap() {
  colourFeatures();
  drawLegend();
  if (!map || !map.getSource) return;
  const src = map.getSource('wt-net');
  if (!src) return;
  src.setData(geo);
}

function fit() {
  if (!map) return;
  const xs = [];
  const ys = [];
  for (const f of geo.features) {
    if (f.geometry.type === 'Point') { xs.push(f.geometry.coordinates[0]); ys.push(f.geometry.coordinates[1]); }
  }
  if (xs.length) map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 30, duration: 0 });
}

function initMap() {
  if (!window.maplibregl) return;
  try {
    map = new window.maplibregl.Map({
      container: $('wt-map'),
      style: settings.basemap || { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#eef0ec' } }] },
      center: [2.5, 46.6],
      zoom: 5,
      attributionControl: settings.basemap ? undefined : false,
    });
  } catch {
    $('wt-map').textContent = t('map.nowebgl');
    map = null;
    return;
  }
  map.on('load', () => {
    map.addSource('wt-net', { type: 'geojson', data: geo });
    map.addLayer({ id: 'wt-links', type: 'line', source: 'wt-net', filter: ['==', ['geometry-type'], 'LineString'],
      paint: { 'line-color': ['get', 'colour'], 'line-width': ['coalesce', ['get', 'width'], 2] } });
    map.addLayer({ id: 'wt-nodes', type: 'circle', source: 'wt-net', filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 3, 'circle-color': ['get', 'colour'] } });
    drawMap();
    fit();
  });
}

async function loadMap() {
  if (!network) return;
  const q = run ? `?simulation=${encodeURIComponent(run)}` : '';
  geo = await call('GET', `/networks/${encodeURIComponent(network)}/map${q}`);
  drawMap();
  fit();
}

// -- what-if -----------------------------------------------------------------------------

async function simulate(e) {
  e.preventDefault();
  clearError();
  const type = $('wt-change').value;
  const target = $('wt-target').value.trim();
  const value = Number($('wt-value').value);
  const changes = [];
  if (type === 'closePipe') changes.push({ type, pipe: target });
  if (type === 'scaleDemand') changes.push({ type, junction: target || null, factor: value });
  if (type === 'leak') changes.push({ type, junction: target, diameterMm: value });
  if (type === 'fireFlow') changes.push({ type, junction: target, flow: value });
  say(t('water.sim.running'));
  try {
    const r = await call('POST', `/networks/${encodeURIComponent(network)}/simulations`, { changes });
    run = r.run;
    mode = 'pressure';
    $('wt-mode').value = mode;
    const s = r.summary;
    $('wt-sim-result').textContent = s.lowestPressure
      ? t('water.sim.result', {
        node: s.lowestPressure.junction, p: num(s.lowestPressure.value, 1),
        drop: num(s.largestPressureDrop ? s.largestPressureDrop.value : 0, 1),
        dropNode: s.largestPressureDrop ? s.largestPressureDrop.junction : '-', n: num(s.junctionsWithoutPressure),
      })
      : '';
    await loadMap();
    say(t('water.sim.done'));
  } catch (err) {
    say('');
    showError(err);
  }
}

// -- night flow, alerts, indicators ------------------------------------------------------

async function drawDmas() {
  const root = $('wt-dmas');
  const dmas = await call('GET', '/dmas');
  if (!dmas.length) { root.replaceChildren(el('p', { text: t('water.dma.none') })); return; }
  const parts = [];
  for (const d of dmas) {
    const r = await call('GET', `/dmas/${encodeURIComponent(d.id)}/night-flow`);
    const name = d.definition.name || d.id;
    const fig = el('figure', {}, el('figcaption', { text: t('water.dma.caption', { name, from: r.nightWindow[0], to: r.nightWindow[1] }) }));
    if (r.nights.length) {
      fig.append(lineChart(t('water.dma.label', { name }), 'm³/h', r.nights.map((n) => [new Date(`${n.date}T00:00:00`), n.flow]), false));
    } else {
      fig.append(el('p', { text: t('water.dma.noData') }));
    }
    const alarms = r.alarms.map((a) => el('li', { text: t('water.dma.alarm', {
      date: new Intl.DateTimeFormat(currentLang(), { dateStyle: 'long' }).format(new Date(`${a.date}T00:00:00`)),
      flow: num(a.flow, 2), ref: num(a.reference, 2), excess: num(a.excess, 2),
    }) }));
    fig.append(alarms.length ? el('ul', { class: 'wt-alarms' }, ...alarms) : el('p', { text: t('water.dma.noAlarm') }));
    parts.push(fig);
  }
  root.replaceChildren(...parts);
}

async function drawAlerts() {
  const list = await call('GET', '/leak-events');
  const root = $('wt-alerts');
  if (!list.length) { root.replaceChildren(el('p', { text: t('water.alerts.none') })); return; }
  const rows = list.map((a) => el('tr', {},
    el('td', { text: a.validFrom ? new Date(a.validFrom).toLocaleString(currentLang()) : '' }),
    el('td', { text: (a.candidatePipes || []).map((p) => p.split(':').pop()).slice(0, 3).join(', ') || t('water.alerts.dma') }),
    el('td', { text: typeof a.locationUncertaintyM === 'number' ? `± ${num(a.locationUncertaintyM)} m` : '—' }),
    el('td', { text: typeof a.estimatedFlowM3h === 'number' ? `${num(a.estimatedFlowM3h, 1)} m³/h` : '—' }),
    el('td', { text: a.method || '' })));
  root.replaceChildren(el('table', {},
    el('caption', { text: t('water.alerts.caption') }),
    el('thead', {}, el('tr', {}, ...['water.alerts.start', 'water.alerts.pipes', 'water.alerts.uncertainty', 'water.alerts.flow', 'water.alerts.method']
      .map((k) => el('th', { scope: 'col', text: t(k) })))),
    el('tbody', {}, ...rows)));
}

/** The Grenelle verdict and fee coefficient of a report, in plain words. */
export function verdict(r) {
  const g = r.grenelle;
  const base = g.compliant ? 'water.ind.ok' : 'water.ind.ko';
  return `${t(base, { y: num(g.yieldPercent, 1), s: num(g.thresholdPercent, 1) })} ${t('water.ind.fee', { c: num(r.feeCoefficient, 3) })}`;
}

async function drawIndicators() {
  const list = await call('GET', '/indicators');
  const root = $('wt-indicators');
  if (!list.length) { root.replaceChildren(el('p', { text: t('water.ind.none') })); return; }
  const codes = ['P104.3', 'P105.3', 'P106.3', 'ILC'];
  const parts = list.map((r) => el('div', { class: 'wt-report' },
    el('h3', { text: t('water.ind.title', { service: r.service, year: r.year }) }),
    el('p', { class: 'wt-verdict', text: verdict(r) }),
    el('table', {},
      el('caption', { text: t('water.ind.caption') }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: t('water.ind.code') }), el('th', { scope: 'col', text: t('water.ind.name') }), el('th', { scope: 'col', text: t('water.ind.value') }))),
      el('tbody', {}, ...codes.map((c) => el('tr', {},
        el('th', { scope: 'row', text: c }), el('td', { text: t(`water.ind.${c}`) }), el('td', { text: num(r.indicators[c], 2) })))))));
  root.replaceChildren(...parts);
}

// -- layout ------------------------------------------------------------------------------

function layout() {
  const changeOptions = ['closePipe', 'scaleDemand', 'leak', 'fireFlow']
    .map((c) => el('option', { value: c, text: t(`water.sim.${c}`) }));
  $('water-root').replaceChildren(
    el('p', { id: 'wt-status', class: 'status', role: 'status', 'aria-live': 'polite' }),
    el('section', { 'aria-labelledby': 'wt-map-title' },
      el('h2', { id: 'wt-map-title', text: t('water.map.title') }),
      el('p', {}, el('label', { for: 'wt-network', text: t('water.map.network') }), ' ', el('select', { id: 'wt-network' }),
        ' ', el('label', { for: 'wt-mode', text: t('water.map.mode') }), ' ',
        el('select', { id: 'wt-mode' }, el('option', { value: 'pressure', text: t('water.map.byPressure') }), el('option', { value: 'alert', text: t('water.map.byAlert') }))),
      el('div', { class: 'twin' },
        el('div', { class: 'side' }, el('ul', { id: 'wt-legend', class: 'legend', 'aria-label': t('water.map.legend') })),
        el('div', { id: 'wt-map', class: 'map', role: 'img', 'aria-label': t('water.map.label') }))),
    el('section', { 'aria-labelledby': 'wt-sim-title' },
      el('h2', { id: 'wt-sim-title', text: t('water.sim.title') }),
      el('form', { id: 'wt-sim', class: 'lt-form' },
        el('p', {}, el('label', { for: 'wt-change', text: t('water.sim.change') }), el('select', { id: 'wt-change' }, ...changeOptions)),
        el('p', {}, el('label', { for: 'wt-target', text: t('water.sim.target') }), el('input', { id: 'wt-target', type: 'text', autocomplete: 'off' })),
        el('p', {}, el('label', { for: 'wt-value', text: t('water.sim.value') }), el('input', { id: 'wt-value', type: 'number', step: 'any', value: '1' })),
        el('p', {}, el('button', { type: 'submit', text: t('water.sim.run') }))),
      el('p', { id: 'wt-sim-result', 'aria-live': 'polite' })),
    el('section', { 'aria-labelledby': 'wt-dma-title' },
      el('h2', { id: 'wt-dma-title', text: t('water.dma.title') }), el('div', { id: 'wt-dmas' })),
    el('section', { 'aria-labelledby': 'wt-alerts-title' },
      el('h2', { id: 'wt-alerts-title', text: t('water.alerts.title') }), el('div', { id: 'wt-alerts' })),
    el('section', { 'aria-labelledby': 'wt-ind-title' },
      el('h2', { id: 'wt-ind-title', text: t('water.ind.heading') }), el('div', { id: 'wt-indicators' })));
  $('wt-sim').addEventListener('submit', simulate);
  $('wt-mode').addEventListener('change', (e) => { mode = e.target.value; drawMap(); });
  $('wt-network').addEventListener('change', (e) => { network = e.target.value; run = null; loadMap().catch(showError); });
}

async function load() {
  const nets = await call('GET', '/networks');
  $('wt-network').replaceChildren(...nets.map((n) => el('option', { value: n.id, text: n.title ? `${n.id} — ${n.title}` : n.id })));
  if (nets.length && !nets.some((n) => n.id === network)) network = nets[0].id;
  if (network) $('wt-network').value = network;
  else say(t('water.map.none'));
  await Promise.all([loadMap(), drawDmas(), drawAlerts(), drawIndicators()]);
}

/** Shows the view (first time: builds it and its map). */
export function showWater() {
  if (!started) {
    started = true;
    layout();
    initMap();
  }
  load().catch(showError);
}

/** Draws the view again in the current language. */
export function relabelWater() {
  if (!started) return;
  const keep = { network, run, mode };
  layout();
  ({ network, run, mode } = keep);
  $('wt-mode').value = mode;
  if (map) { map.remove(); map = null; }
  initMap();
  load().catch(showError);
}
