// Web interface measurements against a running `jumeau demo`:
//
//   node bench/web/measure.mjs <base url> [--runs N] [--move-seconds S] [--assets DIR]
//                                      [--no-moves]
//
// `--assets crates/jumeau-web/assets` serves the page's scripts from that folder instead
// of the server's (to compare a change of the interface without building the server again;
// the bytes transferred then leave the scripts out). `--no-moves` measures the loads only.
//
// It drives Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) headless through
// playwright-core, taken from e2e/node_modules (`npm ci --prefix e2e`); it never downloads
// a browser. Headless Chromium draws WebGL with SwiftShader, a software renderer on the
// CPU: frame rates are a floor for a machine with a GPU, not a figure for one.
//
// 1. Time to interactive, each run in a fresh browser context (empty HTTP cache, the
//    server already warm):
//    - home (`/#accueil`): navigation start to the home cards filled in;
//    - map (`/#carte`): navigation start to the map's first `idle` event once every
//      service's source holds its features and the list is drawn;
//    with the Performance API's figures: the end of the last API answer asked before the
//    view was ready (how much of the wait is data), first contentful paint, largest
//    contentful paint, DOMContentLoaded, load event, bytes transferred (compressed: the
//    resource timings' transferSize) and long tasks (over 50 ms, the longest in brackets).
// 2. Pan and zoom with many entities: the map view (`#carte`, one clustered source per
//    service) and the lighting view (`#eclairage`, every point lumineux unclustered). The
//    script counts the features the sources hold, checks that they are drawn by MapLibre
//    layers (no `.maplibregl-marker` DOM element), then pans, zooms and flies the map for
//    a few seconds while requestAnimationFrame samples the frame times.
//    `jumeau demo --size large` has about 12,000 points lumineux (more than 15,000
//    entities in all): serve it for the 10,000-entity figure. With a smaller demo the
//    script reports the counts it found and says that they are below 10,000.
//
// The window is 1280 × 900. It prints a markdown table of each part, and exits with 1
// when a view draws its entities as DOM markers.
//
// Example: a large demo built once, then served and measured:
//   jumeau demo --size large --no-serve --data /tmp/demo-large
//   jumeau demo --size large --data /tmp/demo-large --listen 127.0.0.1:8080 &
//   node bench/web/measure.mjs http://127.0.0.1:8080 --runs 5
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../../e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const base = args.find((a) => /^https?:/.test(a));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!base) {
  console.error('usage: node bench/web/measure.mjs <base url> [--runs N] [--move-seconds S] [--assets DIR] [--no-moves]');
  process.exit(2);
}
const RUNS = opt('runs', 5);
const ASSETS = args.includes('--assets') ? args[args.indexOf('--assets') + 1] : null;
const MOVE_SECONDS = opt('move-seconds', 6);
const TARGET = 10000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const version = browser.version();

/** A fresh browser context (empty cache), with the local scripts when `--assets` says so. */
async function newContext() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR' });
  if (ASSETS) {
    await context.route(/\/assets\/[^/]+\/js\/[a-z0-9]+\.js$/, (route) => route.fulfill({
      contentType: 'text/javascript; charset=utf-8',
      body: readFileSync(join(ASSETS, 'js', route.request().url().split('/').pop())),
    }));
  }
  return context;
}

/**
 * Runs in the page before its own scripts: records the paints, the long tasks, and the
 * moment the view is ready (home cards filled in, or the map's first `idle` with every
 * service's features and the list drawn).
 */
function probe() {
  const b = { longTasks: [], lcp: 0 };
  window.jumeauBench = b;
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) b.longTasks.push(e.duration); })
      .observe({ type: 'longtask', buffered: true });
  } catch { /* not supported */ }
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) b.lcp = Math.max(b.lcp, e.startTime); })
      .observe({ type: 'largest-contentful-paint', buffered: true });
  } catch { /* not supported */ }
  const services = ['lighting', 'buildings', 'risks'];
  const mapReady = (m) => document.querySelectorAll('#list tbody tr').length > 0
    && services.every((id) => m.getSource(id) && m.querySourceFeatures(id).length > 0);
  let hooked = false;
  const tick = () => {
    const cards = document.querySelector('#home-cards');
    if (!b.home && cards && !document.getElementById('home').hidden && cards.querySelector('.card')
        && !/Chargement|Loading/.test(cards.textContent)) b.home = performance.now();
    const m = window.jumeau?.map;
    if (m && !hooked) {
      hooked = true;
      const onIdle = () => {
        if (mapReady(m)) {
          b.map = performance.now();
          m.off('idle', onIdle);
        }
      };
      m.on('idle', onIdle);
    }
    if (!b.home || !hooked) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');
const kb = (x) => `${(x / 1024).toFixed(0)} KiB`;

/** One cold load of `hash`; returns the Performance API's figures and the ready time. */
async function loadOnce(hash) {
  const context = await newContext();
  await context.addInitScript(probe);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/${hash}`);
  const key = hash === '#carte' ? 'map' : 'home';
  await page.waitForFunction((k) => window.jumeauBench?.[k] > 0, key, { timeout: 120000, polling: 100 });
  // Paints and resources settle a moment after the view is ready.
  await page.waitForTimeout(300);
  const r = await page.evaluate((k) => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
    const resources = performance.getEntriesByType('resource');
    const bytes = (nav?.transferSize || 0) + resources.reduce((s, e) => s + (e.transferSize || 0), 0);
    const b = window.jumeauBench;
    // The API calls made before the view was ready (live updates read entities later).
    const api = resources.filter((e) => (e.name.includes('/ngsi-ld/v1/') || e.name.includes('/jumeau/v1/'))
      && !e.name.includes('/events') && e.startTime < b[k]);
    return {
      ready: b[k], api: Math.max(0, ...api.map((e) => e.responseEnd)), apiCalls: api.length, fcp, lcp: b.lcp || NaN, dcl: nav?.domContentLoadedEventEnd, load: nav?.loadEventEnd, bytes,
      requests: resources.length + 1, longTasks: b.longTasks.length, longest: Math.max(0, ...b.longTasks),
    };
  }, key);
  await context.close();
  if (errors.length) throw new Error(`script errors: ${errors.join(' | ')}`);
  return r;
}

/** Counts what the map of the current view holds and draws. */
async function mapCounts(page, sources) {
  return page.evaluate(async (ids) => {
    const m = window.jumeauBench.target;
    let inSources = 0;
    for (const id of ids) {
      const src = m.getSource(id);
      if (src?.getData) inSources += ((await src.getData()).features || []).length;
    }
    return {
      inSources,
      rendered: m.queryRenderedFeatures().length,
      markers: document.querySelectorAll('.maplibregl-marker').length,
      layers: m.getStyle().layers.filter((l) => ids.includes(l.source)).map((l) => `${l.id} (${l.type})`),
    };
  }, sources);
}

/**
 * Pans, zooms and flies the map for about `seconds` while sampling the frame times with
 * requestAnimationFrame.
 */
async function moveAndSample(page, seconds) {
  return page.evaluate(async (total) => {
    const m = window.jumeauBench.target;
    const frames = [];
    let last = performance.now();
    let run = true;
    const sample = (now) => {
      frames.push(now - last);
      last = now;
      if (run) requestAnimationFrame(sample);
    };
    const moved = () => new Promise((ok) => m.once('moveend', ok));
    const step = total * 1000 / 6;
    const c = m.getCenter();
    const z = m.getZoom();
    requestAnimationFrame((now) => { last = now; requestAnimationFrame(sample); });
    const t0 = performance.now();
    const moves = [
      () => m.panBy([350, 0], { duration: step }),
      () => m.panBy([-350, 250], { duration: step }),
      () => m.zoomTo(z + 2, { duration: step }),
      () => m.zoomTo(z - 1, { duration: step }),
      () => m.flyTo({ center: [c.lng + 0.02, c.lat - 0.01], zoom: z + 1, duration: step }),
      () => m.flyTo({ center: c, zoom: z, duration: step }),
    ];
    for (const move of moves) {
      const done = moved();
      move();
      await done;
    }
    run = false;
    const elapsed = performance.now() - t0;
    await new Promise((ok) => (m.loaded() ? ok() : m.once('idle', ok)));
    return { frames: frames.slice(1), elapsed };
  }, seconds);
}

/** Opens a view on a fresh page, waits for its map and its features, then measures. */
async function movement(hash, sources, ready) {
  const context = await newContext();
  await context.addInitScript(probe);
  await context.addInitScript(keepMaps);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction(ready, null, { timeout: 180000, polling: 250 });
  await page.evaluate(async () => {
    const m = window.jumeauBench.target;
    await new Promise((ok) => (m.loaded() ? ok() : m.once('idle', ok)));
  });
  const counts = await mapCounts(page, sources);
  const { frames, elapsed } = await moveAndSample(page, MOVE_SECONDS);
  await context.close();
  if (errors.length) throw new Error(`script errors: ${errors.join(' | ')}`);
  return {
    ...counts,
    elapsed,
    frames: frames.length,
    fps: (frames.length / elapsed) * 1000,
    median: median(frames),
    p95: pct(frames, 95),
    max: Math.max(...frames),
    long: frames.filter((f) => f > 50).length,
  };
}

console.log(`# Jumeau web interface measurements`);
console.log(`\n${new Date().toISOString()}, ${base}${ASSETS ? ` (scripts from ${ASSETS})` : ''}, Chromium ${version} headless (WebGL by SwiftShader, software), `
  + `${cpus().length} CPUs, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

// -- 1. time to interactive ----------------------------------------------------------------
const loads = { home: [], map: [] };
for (let i = 0; i < RUNS; i += 1) {
  loads.home.push(await loadOnce('#accueil'));
  loads.map.push(await loadOnce('#carte'));
}
console.log(`## Time to interactive, ${RUNS} cold loads each (median / max)\n`);
console.log('| view | ready | last API answer (calls) | first contentful paint | largest contentful paint | DOMContentLoaded | load event | transferred | requests | long tasks (longest) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [view, rs] of Object.entries(loads)) {
  const col = (f, fmt) => `${fmt(median(rs.map(f)))} / ${fmt(Math.max(...rs.map(f)))}`;
  const what = view === 'home' ? 'home `#accueil` (cards filled)' : 'map `#carte` (first idle, all layers, list)';
  console.log(`| ${what} | ${col((r) => r.ready, ms)} | ${col((r) => r.api, ms)} (${median(rs.map((r) => r.apiCalls))}) | ${col((r) => r.fcp, ms)} | ${col((r) => r.lcp, ms)} | `
    + `${col((r) => r.dcl, ms)} | ${col((r) => r.load, ms)} | ${col((r) => r.bytes, kb)} | ${median(rs.map((r) => r.requests))} | `
    + `${median(rs.map((r) => r.longTasks))} (${ms(Math.max(...rs.map((r) => r.longest)))}) |`);
}

// -- 2. pan and zoom -------------------------------------------------------------------------
const SERVICES = ['lighting', 'water', 'buildings', 'risks', 'reports', 'roads'];
const views = [
  {
    name: 'map `#carte` (clustered sources)',
    hash: '#carte',
    sources: SERVICES.flatMap((s) => [s, `${s}-shapes`]),
    ready: () => {
      const m = window.jumeau?.map;
      if (!m || !window.jumeauBench.map) return false;
      window.jumeauBench.target = m;
      return true;
    },
  },
  {
    name: 'lighting `#eclairage` (every point lumineux)',
    hash: '#eclairage',
    sources: ['lt-points'],
    ready: () => {
      // The lighting view keeps its map to itself: the one whose container is #lt-map.
      const canvas = document.querySelector('#lt-map canvas');
      if (!canvas || !document.querySelector('#lt-legend li')) return false;
      if (!window.jumeauBench.target) {
        const maps = window.jumeauBench.maps || [];
        window.jumeauBench.target = maps.find((m) => m.getContainer().id === 'lt-map');
      }
      const m = window.jumeauBench.target;
      return Boolean(m?.getSource('lt-points') && m.querySourceFeatures('lt-points').length > 0);
    },
  },
];

/** Keeps every map the page creates (the lighting view does not expose its own). */
function keepMaps() {
  let lib;
  Object.defineProperty(window, 'maplibregl', {
    configurable: true,
    get: () => lib,
    set: (v) => {
      const Original = v.Map;
      class Kept extends Original {
        constructor(...a) {
          super(...a);
          (window.jumeauBench.maps ||= []).push(this);
        }
      }
      v.Map = Kept;
      lib = v;
    },
  });
}

const moves = [];
if (!args.includes('--no-moves')) for (const v of views) moves.push({ name: v.name, ...(await movement(v.hash, v.sources, v.ready)) });

if (moves.length) {
  console.log(`\n## Pan and zoom, about ${MOVE_SECONDS} s of panBy, zoomTo and flyTo (SwiftShader)\n`);
  console.log('| view | features in the sources | rendered at start | DOM markers | frames per second | median frame | p95 frame | longest frame | frames > 50 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of moves) {
    console.log(`| ${r.name} | ${r.inSources} | ${r.rendered} | ${r.markers} | ${r.fps.toFixed(1)} | ${r.median.toFixed(1)} ms | `
      + `${r.p95.toFixed(1)} ms | ${r.max.toFixed(0)} ms | ${r.long} of ${r.frames} |`);
  }
  console.log(`\nLayers drawing them: ${moves.map((r) => `${r.name}: ${r.layers.join(', ')}`).join('; ')}`);
}
console.log(`Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

let failed = false;
for (const r of moves) {
  if (r.markers > 10) {
    console.log(`\nFAIL: ${r.name} draws ${r.markers} DOM markers: entities must be drawn by MapLibre layers`);
    failed = true;
  }
}
const most = Math.max(...moves.map((r) => r.inSources));
if (moves.length && most < TARGET) console.log(`\nNote: at most ${most} features in a map's sources, fewer than ${TARGET}: serve \`jumeau demo --size large\` for that figure.`);
await browser.close();
process.exit(failed ? 1 : 0);
