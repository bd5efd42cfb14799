// The home page for elected officials: the month's lighting energy and what it costs
// against the same point last year, what is broken or on alert, what changed since yesterday.
import { count, temporal, features, showError } from './api.js';
import { CONTEXTS, SERVICES, typeLabel } from './services.js';
import { t, num, currentLang } from './i18n.js';
import { el } from './list.js';

/** Indicative price of a kWh for the street-lighting contract, in euros. */
const PRICE_EUR_PER_KWH = 0.2;

const euros = (v) => new Intl.NumberFormat(currentLang(), { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 }).format(v);

/** Energy used by the cabinets' meters between two dates: per meter, highest index minus lowest. */
async function energyBetween(from, to) {
  const rows = await temporal({
    type: 'StreetlightControlCabinet', attrs: 'energyConsumed', options: 'aggregatedValues',
    aggrMethods: 'min,max', aggrPeriodDuration: 'P1M', timerel: 'between',
    timeAt: from.toISOString(), endTimeAt: to.toISOString(),
  }, CONTEXTS.lighting);
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

async function energyCard() {
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth(), 1);
  const lastStart = new Date(now.getFullYear() - 1, now.getMonth(), 1);
  const lastNow = new Date(now.getTime());
  lastNow.setFullYear(now.getFullYear() - 1);
  const [cur, last] = await Promise.all([energyBetween(start, now), energyBetween(lastStart, lastNow)]);
  if (!cur.meters) return [el('p', {}, t('home.energy.none'))];
  const lines = [el('p', { class: 'figure' }, t('home.energy.value', { kwh: num(cur.kwh), eur: euros(cur.kwh * PRICE_EUR_PER_KWH) }))];
  if (last.meters && last.kwh > 0) {
    const pct = ((cur.kwh - last.kwh) / last.kwh) * 100;
    const share = new Intl.NumberFormat(currentLang(), { style: 'percent', maximumFractionDigits: 0 }).format(Math.abs(pct) / 100);
    const delta = `${share} ${pct >= 0 ? t('home.more') : t('home.less')}`;
    lines.push(el('p', {}, t('home.energy.compare', { kwhLast: num(last.kwh), delta })));
  } else {
    lines.push(el('p', {}, t('home.energy.nolast')));
  }
  const price = new Intl.NumberFormat(currentLang(), { style: 'currency', currency: 'EUR', minimumFractionDigits: 2 }).format(PRICE_EUR_PER_KWH);
  lines.push(el('p', { class: 'note' }, t('home.energy.price', { price })));
  return lines;
}

async function incidentsCard() {
  const [lamps, alerts, reports] = await Promise.all([
    count({ type: 'Streetlight', q: 'status!="ok"' }, CONTEXTS.lighting),
    count({ type: 'Alert' }, CONTEXTS.alert),
    count({ type: 'ServiceRequest' }),
  ]);
  const lines = [];
  if (lamps) lines.push(el('li', {}, t('home.incidents.lamps', { n: lamps })));
  if (alerts) lines.push(el('li', {}, t('home.incidents.alerts', { n: alerts })));
  if (reports) lines.push(el('li', {}, t('home.incidents.reports', { n: reports })));
  return lines.length ? [el('ul', {}, ...lines)] : [el('p', {}, t('home.incidents.none'))];
}

async function riverCard() {
  const gauges = await features({ type: 'FloodMonitoring' }, CONTEXTS.environment);
  if (!gauges.length) return [el('p', {}, t('home.river.none'))];
  const m = (v) => `${new Intl.NumberFormat(currentLang(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Number(v))} m`;
  return [el('ul', {}, ...gauges.map((g) => {
    const p = g.properties;
    const over = Number(p.currentLevel) >= Number(p.alertLevel);
    return el('li', { class: over ? 'state-alert' : '' },
      t(over ? 'home.river.over' : 'home.river.level', { name: p.name || g.id, level: m(p.currentLevel), alert: m(p.alertLevel) }));
  }))];
}

async function changesCard() {
  const since = new Date(Date.now() - 86400e3).toISOString();
  const queries = SERVICES.flatMap((s) => s.queries);
  const answers = await Promise.all(queries.map((q) =>
    temporal({ type: q.type, timerel: 'after', timeAt: since, timeproperty: 'modifiedAt', lastN: 1 }, q.context)));
  const byType = {};
  for (const r of answers.flat()) {
    const changed = Object.entries(r).some(([k, v]) => !['id', 'type', '@context'].includes(k) && Array.isArray(v) && v.length);
    if (changed) byType[r.type] = (byType[r.type] || 0) + 1;
  }
  const lines = Object.entries(byType).map(([type, n]) => el('li', {}, t('home.changes.item', { n, what: typeLabel(type) })));
  return lines.length ? [el('ul', {}, ...lines)] : [el('p', {}, t('home.changes.none'))];
}

const CARDS = [['home.energy', energyCard], ['home.incidents', incidentsCard], ['home.river', riverCard], ['home.changes', changesCard]];

/** Draws the home page's cards, each filled when its figures arrive. */
export function drawHome() {
  const box = document.getElementById('home-cards');
  box.replaceChildren(...CARDS.map(([key, fill], i) => {
    const body = el('div', {}, el('p', {}, t('panel.loading')));
    fill().then((parts) => body.replaceChildren(...parts), (err) => {
      body.replaceChildren(el('p', { class: 'error-inline' }, err.message));
      showError(err);
    });
    return el('section', { class: 'card', 'aria-labelledby': `card-${i}` }, el('h2', { id: `card-${i}` }, t(key)), body,
      el('p', {}, el('a', { href: '#carte' }, t('home.see'))));
  }));
}
