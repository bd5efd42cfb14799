// A small time-series chart drawn in SVG by hand: a line with its points, the lowest and
// highest values on the left, the first and last times below.
import { t, num, currentLang } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 140;
const PAD = { left: 48, right: 8, top: 10, bottom: 24 };

/** A new SVG element with attributes and, optionally, its text. */
export function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A short date-time in the current language. */
export const when = (d, withTime = true) => new Intl.DateTimeFormat(currentLang(),
  withTime ? { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short' }).format(d);

/**
 * The chart of `points` ([Date, number] pairs, oldest first) for `label`, values written
 * with `unit`; the summary sentence is the image's accessible name.
 */
export function lineChart(label, unit, points, withTime = true) {
  const values = points.map((p) => p[1]);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const t0 = points[0][0].getTime();
  const t1 = points[points.length - 1][0].getTime();
  const x = (d) => PAD.left + (t1 === t0 ? (W - PAD.left - PAD.right) / 2 : ((d.getTime() - t0) / (t1 - t0)) * (W - PAD.left - PAD.right));
  const y = (v) => PAD.top + (max === min ? (H - PAD.top - PAD.bottom) / 2 : (1 - (v - min) / (max - min)) * (H - PAD.top - PAD.bottom));
  const fmt = (v) => `${num(v, 2)}${unit ? ` ${unit}` : ''}`;
  const summary = t('chart.summary', { label, n: points.length, min: fmt(min), max: fmt(max), last: fmt(values[values.length - 1]) });
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'chart' });
  root.append(svg('title', {}, summary));
  const bottom = H - PAD.bottom;
  root.append(svg('line', { x1: PAD.left, y1: bottom, x2: W - PAD.right, y2: bottom, class: 'axis' }));
  root.append(svg('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom, class: 'axis' }));
  root.append(svg('text', { x: PAD.left - 4, y: PAD.top + 8, 'text-anchor': 'end' }, num(max, 1)));
  root.append(svg('text', { x: PAD.left - 4, y: bottom, 'text-anchor': 'end' }, num(min, 1)));
  root.append(svg('text', { x: PAD.left, y: H - 6 }, when(points[0][0], withTime)));
  root.append(svg('text', { x: W - PAD.right, y: H - 6, 'text-anchor': 'end' }, when(points[points.length - 1][0], withTime)));
  root.append(svg('polyline', { points: points.map(([d, v]) => `${x(d).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: 'series' }));
  for (const [d, v] of points) root.append(svg('circle', { cx: x(d).toFixed(1), cy: y(v).toFixed(1), r: 2.5, class: 'dot' }));
  return root;
}
