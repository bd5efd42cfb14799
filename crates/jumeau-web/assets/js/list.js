// The legend (which is also the service filter) and the list of entities: the same
// information as the map, for keyboards and screen readers.
import { SERVICES, items, filters, shown, label, typeLabel } from './services.js';
import { t } from './i18n.js';

const PAGE = 50;
let limit = PAGE;

/**
 * A new element with attributes and children (strings become text); `on` adds event
 * listeners, `text` sets the text.
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (k === 'text') e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return e;
}

/** A colour dot for a legend, hidden from screen readers (the text says the same). */
export const swatch = (colour) => el('span', { class: 'swatch', style: `background:${colour}`, 'aria-hidden': 'true' });

/** One line of a map legend: its colour dot, then its text. */
export const legendItem = (colour, text) => el('li', {}, swatch(colour), ' ', text);

/** The legend: one checkbox per service, its colour and how many entities it has. */
export function drawLegend(onChange) {
  const counts = {};
  for (const it of items.values()) counts[it.service] = (counts[it.service] || 0) + 1;
  const legend = document.getElementById('legend');
  legend.replaceChildren(...SERVICES.map((s) => el('li', {},
    el('label', {},
      el('input', { type: 'checkbox', checked: filters.services.has(s.id), 'data-service': s.id,
        on: { change: (e) => { e.target.checked ? filters.services.add(s.id) : filters.services.delete(s.id); onChange(); } } }),
      ' ', swatch(s.color),
      ` ${t(`service.${s.id}`)} `, el('span', { class: 'count' }, `(${counts[s.id] || 0})`)))));
}

/** One collator for every comparison: `localeCompare` with options builds one per call,
 * which made sorting a few thousand entities take a noticeable part of the first load. */
const collator = new Intl.Collator(undefined, { numeric: true });

/** The entities passing the filters and the search, by service then name. */
function visible() {
  const q = filters.search.trim().toLowerCase();
  const order = new Map(SERVICES.map((s, i) => [s.id, i]));
  const rows = [];
  for (const it of items.values()) {
    if (!shown(it)) continue;
    const name = label(it);
    if (!q || `${name} ${typeLabel(it.type)} ${it.id}`.toLowerCase().includes(q)) rows.push({ it, name });
  }
  rows.sort((a, b) => order.get(a.it.service) - order.get(b.it.service) || collator.compare(a.name, b.name));
  return rows.map((r) => r.it);
}

/** Draws the table; `onOpen(id, opener)` opens an entity's panel. */
export function drawList(onOpen, resetLimit = false) {
  if (resetLimit) limit = PAGE;
  const rows = visible();
  const box = document.getElementById('list');
  if (!rows.length) {
    box.replaceChildren(el('p', {}, t('list.empty')));
    return;
  }
  const shownRows = rows.slice(0, limit);
  const table = el('table', {},
    el('caption', {}, t('list.caption', { shown: shownRows.length, total: rows.length })),
    el('thead', {}, el('tr', {}, ...['list.name', 'list.service', 'list.kind', 'list.state'].map((k) => el('th', { scope: 'col' }, t(k))))),
    el('tbody', {}, ...shownRows.map((it) => el('tr', { 'data-id': it.id },
      el('th', { scope: 'row' }, el('button', { type: 'button', class: 'link', 'data-id': it.id,
        on: { click: (e) => onOpen(it.id, e.currentTarget) } }, label(it))),
      el('td', {}, t(`service.${it.service}`)),
      el('td', {}, typeLabel(it.type)),
      el('td', { class: `state-${it.state}` }, t(`state.${it.state}`))))));
  const more = rows.length > limit
    ? el('button', { type: 'button', on: { click: () => { limit += PAGE; drawList(onOpen); } } },
      t('list.more', { n: Math.min(PAGE, rows.length - limit) }))
    : null;
  box.replaceChildren(table, ...(more ? [more] : []));
}
