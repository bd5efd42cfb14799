// The panel of one entity: its properties in plain words and the charts of its numeric
// attributes from the temporal API (average per hour or per day).
import { entity, entityHistory, showError, apiKey, send } from './api.js';
import { items, label, queryOf, typeLabel } from './services.js';
import { t, has, num } from './i18n.js';
import { el } from './list.js';
import { lineChart } from './chart.js';

/** UN/CEFACT unit codes used by the data models, as people write them. */
const UNITS = { WTT: 'W', KWT: 'kW', KWH: 'kWh', KEL: 'K', MTR: 'm', CEL: '°C', P1: '%', MTQ: 'm³', LTR: 'L', A: 'A', VLT: 'V', MQH: 'm³/h', BAR: 'bar' };
const HIDDEN = new Set(['id', 'type', '@context', 'location']);
const PERIODS = { hours: { dur: 'PT1H', back: 48 * 3600e3, time: true }, days: { dur: 'P1D', back: 30 * 86400e3, time: false } };

const panel = () => document.getElementById('panel');
let opener = null;
let current = null;
let period = 'hours';
/** The charts of the open panel: their box and the attributes they draw. */
let charts = null;
/** A live update of the open panel is under way (`again`: another reading came meanwhile). */
let updating = null;

const attrLabel = (name) => (has(`attr.${name}`) ? t(`attr.${name}`) : name);
const unitOf = (a) => UNITS[a.unitCode] || a.unitCode || '';
/** P1 (a ratio) is shown as a percentage. */
const scaled = (a, v) => (a.unitCode === 'P1' ? v * 100 : v);

function valueText(a) {
  const v = a.value ?? a.object;
  if (typeof v === 'number') return `${num(scaled(a, v), 2)} ${unitOf(a)}`.trim();
  if (typeof v === 'string') return has(`value.${v}`) ? t(`value.${v}`) : v;
  if (Array.isArray(v)) return v.map((x) => (has(`value.${x}`) ? t(`value.${x}`) : String(x))).join(', ');
  if (v && typeof v === 'object') return Object.values(v).join(' ');
  return String(v ?? '');
}

/**
 * Opens the panel of entity `id`; focus goes back to `from` when it closes. `refocus`
 * false redraws an open panel (after a change) without moving the focus.
 */
export async function openPanel(id, from, refocus = true) {
  const it = items.get(id);
  if (!it) return;
  if (refocus) opener = from || document.activeElement;
  current = it;
  const p = panel();
  document.getElementById('panel-title').textContent = label(it);
  const body = document.getElementById('panel-body');
  body.replaceChildren(el('p', {}, t('panel.loading')));
  p.hidden = false;
  if (refocus) p.focus();
  const ctx = queryOf(it.type)?.query.context;
  try {
    const e = await entity(id, ctx);
    if (current !== it) return;
    const attrs = shownAttrs(e);
    body.replaceChildren(
      el('p', { class: 'kind' }, typeLabel(it.type)),
      el('h3', {}, t('panel.properties')),
      el('dl', { class: 'props' }, ...attrs.flatMap(([k, a]) => [el('dt', {}, attrLabel(k)), valueCell(k, a)])),
      editSection(it, e, ctx),
      historySection(it, Object.fromEntries(attrs), ctx));
  } catch (err) {
    body.replaceChildren(el('p', { class: 'error-inline' }, err.message));
    showError(err);
  }
}

/** The attributes the panel lists, in the entity's order. */
const shownAttrs = (e) => Object.entries(e).filter(([k, a]) => !HIDDEN.has(k) && a && typeof a === 'object' && !Array.isArray(a));

/** The value of one attribute: a link to a related entity, or its value in words. */
function valueCell(k, a) {
  return el('dd', { 'data-attr': k, 'data-object': a.object }, relationLink(a) || valueText(a));
}

/**
 * Shows a new reading of the open entity, pushed by the live updates: the values change
 * in place (the focus, the form and the scroll stay where they are) and the charts are
 * drawn again. Readings arriving during an update are shown by one more update.
 */
export async function updatePanel(id) {
  const it = current;
  if (!it || it.id !== id) return;
  if (updating?.it === it) {
    updating.again = true;
    return;
  }
  const run = { it, again: false };
  updating = run;
  try {
    do {
      run.again = false;
      const ctx = queryOf(it.type)?.query.context;
      const e = await entity(id, ctx);
      if (current !== it) return;
      const list = document.querySelector('#panel dl.props');
      // Still loading: the panel will show the values it reads.
      if (!list) return;
      const attrs = shownAttrs(e);
      const cells = [...list.querySelectorAll('dd')];
      if (cells.map((dd) => dd.dataset.attr).join('\n') === attrs.map(([k]) => k).join('\n')) {
        attrs.forEach(([k, a], i) => {
          const dd = cells[i];
          if (a.object !== undefined && dd.dataset.object === String(a.object)) return;
          const fresh = valueCell(k, a);
          if (dd.textContent !== fresh.textContent || dd.dataset.object !== fresh.dataset.object) dd.replaceWith(fresh);
        });
      } else {
        list.replaceChildren(...attrs.flatMap(([k, a]) => [el('dt', {}, attrLabel(k)), valueCell(k, a)]));
      }
      if (charts?.it === it) {
        charts.attrs = Object.fromEntries(attrs);
        await drawCharts(it, charts.attrs, ctx, charts.box, true);
      }
    } while (run.again && current === it);
  } catch {
    // The next reading tries again; the panel keeps the values it shows.
  } finally {
    if (updating === run) updating = null;
  }
}

/** The states an agent can declare for a street light (Smart Data Models values). */
const STATES = ['ok', 'defectiveLamp', 'columnIssue', 'brokenLantern'];

/**
 * With an API key, an agent declares a street light's state (repaired, broken...); the
 * change comes back to every open page through the live updates.
 */
function editSection(it, e, ctx) {
  if (!apiKey() || it.type !== 'Streetlight' || !e.status) return null;
  const status = el('p', { role: 'status', class: 'key-status' });
  const select = el('select', { id: 'edit-state' },
    ...STATES.map((v) => el('option', { value: v, selected: v === e.status.value }, t(`value.${v}`))));
  const form = el('form', { class: 'edit', 'aria-labelledby': 'edit-title', on: { submit: async (ev) => {
    ev.preventDefault();
    status.textContent = t('panel.loading');
    try {
      await send('PATCH', `/ngsi-ld/v1/entities/${encodeURIComponent(it.id)}/attrs`,
        { status: { type: 'Property', value: select.value } }, { context: ctx });
      status.textContent = t('panel.edit.done', { state: t(`value.${select.value}`) });
    } catch (err) {
      status.textContent = err.message;
    }
  } } },
  el('h3', { id: 'edit-title' }, t('panel.edit')),
  el('p', {}, el('label', { for: 'edit-state' }, `${t('panel.edit.label')} `), select, ' ',
    el('button', { type: 'submit' }, t('panel.edit.save'))),
  status);
  return form;
}

/** A relationship to an entity the map shows: a button that opens it. */
function relationLink(a) {
  const target = a.object && items.get(a.object);
  return target ? el('button', { type: 'button', class: 'link', on: { click: () => openPanel(target.id, opener) } }, label(target)) : null;
}

function historySection(it, currentAttrs, ctx) {
  const box = el('div', { class: 'charts', 'aria-live': 'polite' });
  const state = { it, attrs: currentAttrs, box };
  charts = state;
  const select = el('select', { id: 'period', on: { change: (e) => { period = e.target.value; drawCharts(it, state.attrs, ctx, box); } } },
    ...Object.keys(PERIODS).map((k) => el('option', { value: k, selected: k === period }, t(`panel.${k}`))));
  drawCharts(it, currentAttrs, ctx, box);
  return el('section', { 'aria-labelledby': 'history-title' },
    el('h3', { id: 'history-title' }, t('panel.history')),
    el('p', {}, el('label', { for: 'period' }, `${t('panel.period')} `), select), box);
}

/**
 * One chart per attribute with numbers over the period (the latest reading tells which),
 * averaged per hour or per day; an attribute with a single period has nothing to draw.
 * `live`: drawn again for a new reading, without the loading message, and not announced
 * by screen readers (a chosen period is).
 */
async function drawCharts(it, currentAttrs, ctx, box, live = false) {
  box.setAttribute('aria-live', live ? 'off' : 'polite');
  if (!live) box.replaceChildren(el('p', {}, t('panel.loading')));
  const { dur, back, time } = PERIODS[period];
  const range = { timerel: 'after', timeAt: new Date(Date.now() - back).toISOString() };
  try {
    const latest = await entityHistory(it.id, { ...range, options: 'temporalValues', lastN: 1 }, ctx);
    const numeric = Object.entries(latest)
      .filter(([, a]) => typeof a?.values?.[0]?.[0] === 'number')
      .map(([k]) => [k, currentAttrs[k] || {}]);
    const h = numeric.length ? await entityHistory(it.id, {
      ...range, options: 'aggregatedValues', aggrMethods: 'avg', aggrPeriodDuration: dur, attrs: numeric.map(([k]) => k).join(','),
    }, ctx) : {};
    if (current !== it || (live && PERIODS[period].dur !== dur)) return;
    const figures = numeric.map(([k, a]) => {
      const series = (h[k]?.avg || []).filter((r) => r[0] !== null).map((r) => [new Date(r[1]), scaled(a, Number(r[0]))]);
      if (series.length < 2) return null;
      return el('figure', {}, el('figcaption', {}, attrLabel(k)), lineChart(attrLabel(k), unitOf(a), series, time));
    }).filter(Boolean);
    const drawn = figures.length ? figures : [el('p', {}, t('panel.nohistory'))];
    if (live && drawn.map((f) => f.outerHTML).join('') === [...box.children].map((f) => f.outerHTML).join('')) return;
    box.replaceChildren(...drawn);
  } catch (err) {
    if (!live) box.replaceChildren(el('p', { class: 'error-inline' }, err.message));
  }
}

/** Closes the panel and gives the focus back to what opened it. */
export function closePanel() {
  if (panel().hidden) return;
  panel().hidden = true;
  current = null;
  charts = null;
  // The list may have been drawn again meanwhile: its button for the same entity.
  const again = opener?.dataset?.id && document.querySelector(`#list button[data-id="${CSS.escape(opener.dataset.id)}"]`);
  const target = opener && document.contains(opener) ? opener : again;
  (target || document.getElementById('main')).focus();
}

/** The entity shown, if any (to redraw it after a change or a language switch). */
export const shownEntity = () => current;
