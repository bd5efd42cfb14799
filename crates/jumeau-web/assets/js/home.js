// The home page for elected officials: the month's energy (street lighting, public buildings)
// and what it costs against the same days last year, what is broken or on alert, the rivers,
// and what changed since yesterday.
import { count, temporal, features, showError } from './api.js';
import { CONTEXTS } from './services.js';
import { t, num, currentLang } from './i18n.js';
import { el } from './list.js';

/** Indicative prices of a kWh, in euros: street-lighting contract, public buildings. */
const PRICE_EUR_PER_KWH = { lighting: 0.2, buildings: 0.18 };

const euros = (v) => new Intl.NumberFormat(currentLang(), { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 }).format(v);
const pct = (v) => new Intl.NumberFormat(currentLang(), { style: 'percent', maximumFractionDigits: 0 }).format(v);

/** Energy counted by the meters of a type between two dates: per meter, highest index minus lowest. */
async function energyBetween(type, context, from, to) {
  const rows = await temporal({
    type, attrs: 'energyConsumed', options: 'aggregatedValues',
    aggrMethods: 'min,max', aggrPeriodDuration: 'P1M', timerel: 'between',
    timeAt: from.toISOString(), endTimeAt: to.toISOString(),
  }, context);
  let kwh = 0;
  let meters = 0;
  for (const r of rows) {
    const a = r.energyConsumed;
    if (!a?.max?.length) continue;
    meters += 1;
    a.max.forEach((m, i) => { kwh += Number(m[0]) - Number(a.min?.[i]?.[0] ?? m[0]); });
  }
  return { kwh, meters };
}

/** This month so far, and the same days of the same month last year. */
function monthRanges() {
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth(), 1);
  const lastStart = new Date(now.getFullYear() - 1, now.getMonth(), 1);
  const lastNow = new Date(now.getTime());
  lastNow.setFullYear(now.getFullYear() - 1);
  return [[start, now], [lastStart, lastNow]];
}

/** One service's lines of the energy card: kWh and euros, against last year. */
async function energyLines(service, type, context) {
  const [[a, b], [c, d]] = monthRanges();
  const [cur, last] = await Promise.all([energyBetween(type, context, a, b), energyBetween(type, context, c, d)]);
  if (!cur.meters) return [];
  const price = PRICE_EUR_PER_KWH[service];
  const lines = [
    el('h3', {}, t(`home.energy.${service}`)),
    el('p', { class: 'figure' }, t('home.energy.value', { kwh: num(cur.kwh), eur: euros(cur.kwh * price) })),
  ];
  if (last.meters && last.kwh > 0) {
    const change = (cur.kwh - last.kwh) / last.kwh;
    const delta = `${pct(Math.abs(change))} ${change >= 0 ? t('home.more') : t('home.less')}`;
    const saved = (last.kwh - cur.kwh) * price;
    lines.push(el('p', {}, t('home.energy.compare', { kwhLast: num(last.kwh), delta })));
    if (Math.abs(saved) >= 1) lines.push(el('p', {}, t(saved > 0 ? 'home.energy.saved' : 'home.energy.extra', { eur: euros(Math.abs(saved)) })));
  } else {
    lines.push(el('p', {}, t('home.energy.nolast')));
  }
  return lines;
}

async function energyCard() {
  const parts = (await Promise.all([
    energyLines('lighting', 'StreetlightControlCabinet', CONTEXTS.lighting),
    energyLines('buildings', 'Building', CONTEXTS.building),
  ])).flat();
  if (!parts.length) return [el('p', {}, t('home.energy.none'))];
  const price = (v) => new Intl.NumberFormat(currentLang(), { style: 'currency', currency: 'EUR', minimumFractionDigits: 2 }).format(v);
  parts.push(el('p', { class: 'note' }, t('home.energy.price', { price: price(PRICE_EUR_PER_KWH.lighting), priceBuildings: price(PRICE_EUR_PER_KWH.buildings) })));
  return parts;
}

async function incidentsCard() {
  const [lamps, alerts, reports] = await Promise.all([
    count({ type: 'Streetlight', q: 'status!="ok"' }, CONTEXTS.lighting),
    features({ type: 'Alert', pick: 'id,name,description,severity,dateIssued' }, CONTEXTS.alert),
    count({ type: 'ServiceRequest' }),
  ]);
  const lines = [];
  if (lamps) lines.push(el('li', {}, t('home.incidents.lamps', { n: lamps })));
  for (const a of alerts) {
    const p = a.properties || {};
    lines.push(el('li', { class: p.severity === 'high' || p.severity === 'critical' ? 'state-alert' : '' },
      el('strong', {}, p.name || t('type.Alert')), p.description ? ` — ${p.description}` : ''));
  }
  if (reports) lines.push(el('li', {}, t('home.incidents.reports', { n: reports })));
  return lines.length ? [el('ul', {}, ...lines)] : [el('p', {}, t('home.incidents.none'))];
}

const metres = (v) => `${new Intl.NumberFormat(currentLang(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Number(v))} m`;
const dayName = (iso) => new Intl.DateTimeFormat(currentLang(), { weekday: 'long', day: 'numeric', month: 'long' }).format(new Date(iso));

/** The highest level of each gauge over the last seven days (daily maxima), by id. */
async function weekPeaks() {
  const rows = await temporal({
    type: 'FloodMonitoring', attrs: 'currentLevel', options: 'aggregatedValues', aggrMethods: 'max',
    aggrPeriodDuration: 'P1D', timerel: 'after', timeAt: new Date(Date.now() - 7 * 86400e3).toISOString(),
  }, CONTEXTS.environment);
  const peaks = {};
  for (const r of rows) {
    for (const [v, from] of r.currentLevel?.max || []) {
      if (v !== null && (!peaks[r.id] || Number(v) > peaks[r.id].level)) peaks[r.id] = { level: Number(v), at: from };
    }
  }
  return peaks;
}

async function riverCard() {
  const [gauges, peaks] = await Promise.all([features({ type: 'FloodMonitoring' }, CONTEXTS.environment), weekPeaks()]);
  if (!gauges.length) return [el('p', {}, t('home.river.none'))];
  return [el('ul', {}, ...gauges.map((g) => {
    const p = g.properties;
    const over = Number(p.currentLevel) >= Number(p.alertLevel);
    const peak = peaks[g.id];
    const flood = peak && peak.level >= Number(p.alertLevel);
    return el('li', { class: over ? 'state-alert' : '' },
      t(over ? 'home.river.over' : 'home.river.level', { name: p.name || g.id, level: metres(p.currentLevel), alert: metres(p.alertLevel) }),
      flood ? el('br') : null,
      flood ? el('span', { class: 'state-alert' }, t('home.river.peak', { level: metres(peak.level), day: dayName(peak.at) })) : null);
  }))];
}

/** Daily averages of an attribute over yesterday and the day before, summed over entities. */
async function lastTwoDays(type, attr, context) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const from = new Date(today.getTime() - 2 * 86400e3);
  const rows = await temporal({
    type, attrs: attr, options: 'aggregatedValues', aggrMethods: 'avg', aggrPeriodDuration: 'P1D',
    timerel: 'between', timeAt: from.toISOString(), endTimeAt: today.toISOString(),
  }, context);
  const days = [0, 0];
  let n = 0;
  for (const r of rows) {
    const avg = r[attr]?.avg || [];
    if (avg.length < 2 || avg[0][0] === null || avg[1][0] === null) continue;
    n += 1;
    days[0] += Number(avg[0][0]);
    days[1] += Number(avg[1][0]);
  }
  return n ? { before: days[0], yesterday: days[1], n } : null;
}

async function changesCard() {
  const since = Date.now() - 86400e3;
  const [water, alerts, outdoor] = await Promise.all([
    lastTwoDays('Pipe,Valve,Pump', 'flow', CONTEXTS.water),
    features({ type: 'Alert', pick: 'id,name,dateIssued' }, CONTEXTS.alert),
    lastTwoDays('WeatherObserved', 'temperature', CONTEXTS.environment),
  ]);
  const lines = [];
  if (water) {
    const change = water.before > 0 ? (water.yesterday - water.before) / water.before : 0;
    lines.push(el('li', {}, t('home.changes.water', {
      m3: num(Math.round(water.yesterday * 24)), delta: `${pct(Math.abs(change))} ${change >= 0 ? t('home.more') : t('home.less')}`,
    })));
  }
  for (const a of alerts) {
    const issued = Date.parse(a.properties?.dateIssued || '');
    if (issued >= since) lines.push(el('li', { class: 'state-alert' }, t('home.changes.alert', { name: a.properties.name || a.id })));
  }
  if (outdoor) {
    const d = outdoor.yesterday - outdoor.before;
    lines.push(el('li', {}, t('home.changes.weather', {
      temp: num(Math.round(outdoor.yesterday * 10) / 10, 1), delta: `${d >= 0 ? '+' : '−'}${num(Math.abs(Math.round(d * 10) / 10), 1)}`,
    })));
  }
  return lines.length ? [el('ul', {}, ...lines)] : [el('p', {}, t('home.changes.none'))];
}

const CARDS = [['home.energy', energyCard], ['home.incidents', incidentsCard], ['home.river', riverCard], ['home.changes', changesCard]];

/**
 * Draws the home page's cards, each filled when its figures arrive; the promise settles
 * once every card is filled (or shows its error).
 */
export function drawHome() {
  const box = document.getElementById('home-cards');
  const filled = [];
  box.replaceChildren(...CARDS.map(([key, fill], i) => {
    const body = el('div', {}, el('p', {}, t('panel.loading')));
    filled.push(fill().then((parts) => body.replaceChildren(...parts), (err) => {
      body.replaceChildren(el('p', { class: 'error-inline' }, err.message));
      showError(err);
    }));
    return el('section', { class: 'card', 'aria-labelledby': `card-${i}` }, el('h2', { id: `card-${i}` }, t(key)), body,
      el('p', {}, el('a', { href: '#carte' }, t('home.see'))));
  }));
  return Promise.allSettled(filled);
}
