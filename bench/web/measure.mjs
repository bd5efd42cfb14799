// Web interface measurements against a running `jumeau demo`:
//
//   node bench/web/measure.mjs <base url> [--runs N] [--move-seconds S] [--assets DIR]
//                                      [--no-moves] [--no-loads] [--synthetic N] [--calls]
//                                      [--only carte|eclairage]
//
// `--assets crates/jumeau-web/assets` serves the page's scripts from that folder instead
// of the server's (to compare a change of the interface without building the server again;
// the bytes transferred then leave the scripts out). `--no-moves` measures the loads only,
// `--no-loads` the moves only. `--calls` lists the API calls of each view's slowest load
// (when asked, the server's time to the first byte, when answered, bytes). `--only eclairage`
// (or `carte`) moves that view's map only.
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
//    view was ready (how much of the wait is data) and how long after it the view was
//    ready (the page's own work: sources, clustering, list), first contentful paint, largest
//    contentful paint, DOMContentLoaded, load event, bytes transferred (compressed: the
//    resource timings' transferSize) and long tasks (over 50 ms, the longest in brackets).
// 2. Pan and zoom with many entities: the map view (`#carte`, one clustered source per
//    service) and the lighting view (`#eclairage`, working points lumineux grouped up to zoom
//    15, faults and emergencies drawn one by one). The
//    script counts the features the sources hold, checks that they are drawn by MapLibre
//    layers (no `.maplibregl-marker` DOM element), then pans, zooms and flies the map for
//    a few seconds while requestAnimationFrame samples the frame times.
//    `jumeau demo --size large` has about 12,000 points lumineux (more than 15,000
//    entities in all): serve it for the 10,000-entity figure. With a smaller demo the
//    script reports the counts it found and says that they are below 10,000.
// 3. What the entities cost: on the same page, the same moves again with the entities'
//    layers hidden (the background alone). For both passes: the main-thread time of each
//    MapLibre render (its `_render`, timed with performance.now) and its WebGL draw calls
//    (each costs driver time on the CPU with any GPU), the renderer main thread's
//    script and busy time per frame (the debugging protocol's ScriptDuration and
//    TaskDuration), and the CPU time per frame of the browser's processes from /proc: the
//    GPU process, where SwiftShader rasterises (a GPU takes that over), and the renderers
//    (main thread, MapLibre's workers, compositor: what stays on the CPU). CPU times hold
//    however busy the machine is; frame rates do not. Then, unless `--synthetic 0`, the
//    view's sources get exactly N points (10,000 by default: copies of its own points
//    spread over the visible area) and both passes are run again. Each pass ends with a drag
//    of the map by the mouse (120 small moves), timing the handling of each mouse move: the
//    pointer listeners' work (hover tests on the entities' layers).
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
import { readFileSync, readdirSync } from 'node:fs';
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
const SYNTHETIC = opt('synthetic', 10000);
const TARGET = 10000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const version = browser.version();

/**
 * CPU time (ms) used so far by the browser's GPU process (where SwiftShader rasterises
 * WebGL: the part a GPU takes over) and by its renderers (the page's main thread, MapLibre's
 * workers, the compositor: what stays on the CPU). Read from /proc, it holds however busy
 * the machine is, unlike frame rates. Null where /proc is missing.
 */
function cpuTimes() {
  // The browser is this script's child: its processes descend from this one.
  const root = process.pid;
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const stat = new Map();
  for (const pid of pids) {
    try {
      // Fields after the command name, which may hold spaces: state, ppid, ..., utime, stime.
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      stat.set(Number(pid), { ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12])) * 10 });
    } catch { /* gone meanwhile */ }
  }
  const within = (pid) => {
    for (let p = pid; p > 1; p = stat.get(p)?.ppid) if (p === root) return true;
    return false;
  };
  const times = { gpu: 0, renderer: 0 };
  for (const [pid, { ms }] of stat) {
    if (!within(pid)) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* gone meanwhile */ }
    if (cmd.includes('--type=gpu-process')) times.gpu += ms;
    else if (cmd.includes('--type=renderer')) times.renderer += ms;
  }
  return times;
}

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
    // The API calls made before the view was ready; not the live updates, which read one
    // changed entity (`id=`) whenever a sensor sends a reading, loading or not.
    const api = resources.filter((e) => (e.name.includes('/ngsi-ld/v1/') || e.name.includes('/jumeau/v1/'))
      && !e.name.includes('/events') && !/[?&]id=/.test(e.name) && e.startTime < b[k]);
    const script = resources.find((e) => e.name.endsWith('/js/main.js'));
    return {
      ready: b[k], api: Math.max(0, ...api.map((e) => e.responseEnd)), apiCalls: api.length, fcp,
      firstApi: Math.min(...api.map((e) => e.startTime)), apiBytes: api.reduce((s, e) => s + (e.transferSize || 0), 0),
      mainJs: script ? script.responseEnd : NaN,
      calls: api.map((e) => ({ url: decodeURIComponent(e.name.replace(location.origin, '')), start: e.startTime, wait: e.responseStart - e.requestStart,
        end: e.responseEnd, bytes: e.transferSize, size: e.decodedBodySize })), lcp: b.lcp || NaN, dcl: nav?.domContentLoadedEventEnd, load: nav?.loadEventEnd, bytes,
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
      zoom: m.getZoom(),
      layers: m.getStyle().layers.filter((l) => ids.includes(l.source)).map((l) => `${l.id} (${l.type})`),
    };
  }, sources);
}

/**
 * Pans, zooms and flies the map for about `seconds` while sampling the frame times with
 * requestAnimationFrame, and the main-thread time of each of MapLibre's renders (its
 * `_render`, which a GPU does not take over: style and tile bookkeeping, symbol placement,
 * WebGL calls issued). Returns to where it started, so that the moves can be repeated.
 */
async function moveAndSample(page, seconds) {
  return page.evaluate(async (total) => {
    const m = window.jumeauBench.target;
    const frames = [];
    const renders = [];
    const render = m._render;
    m._render = function timed(...a) {
      const t = performance.now();
      const r = render.apply(this, a);
      renders.push(performance.now() - t);
      return r;
    };
    // WebGL draw calls: each costs the driver CPU time whatever the GPU.
    const gl = m.painter.context.gl;
    const draws = { n: 0 };
    const drawCalls = ['drawElements', 'drawArrays'].map((name) => {
      const original = gl[name];
      gl[name] = (...a) => { draws.n += 1; return original.apply(gl, a); };
      return [name, original];
    });
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
    m._render = render;
    for (const [name, original] of drawCalls) gl[name] = original;
    await new Promise((ok) => (m.loaded() ? ok() : m.once('idle', ok)));
    return { frames: frames.slice(1), renders, elapsed, drawsPerRender: draws.n / Math.max(1, renders.length) };
  }, seconds);
}

/**
 * One pass of the moves, with the renderer main thread's figures over it from the
 * debugging protocol, divided by the frames drawn: ScriptDuration (every script: MapLibre,
 * the page's handlers, garbage collection), the main-thread cost a GPU leaves; and
 * TaskDuration (all its busy time, which under SwiftShader is mostly waiting for the GPU
 * process to rasterise the canvas).
 */
async function pass(page, cdp) {
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
  const before = await metrics();
  const cpuBefore = cpuTimes();
  const { frames, renders, elapsed, drawsPerRender } = await moveAndSample(page, MOVE_SECONDS);
  const cpuAfter = cpuTimes();
  const after = await metrics();
  const perFrame = (name) => ((after[name] - before[name]) * 1000) / Math.max(1, frames.length);
  const cpuPerFrame = (kind) => (cpuBefore ? (cpuAfter[kind] - cpuBefore[kind]) / Math.max(1, frames.length) : NaN);
  return {
    elapsed,
    frames: frames.length,
    fps: (frames.length / elapsed) * 1000,
    median: median(frames),
    p95: pct(frames, 95),
    max: Math.max(...frames),
    long: frames.filter((f) => f > 50).length,
    renderMedian: median(renders),
    renderP95: pct(renders, 95),
    drawsPerRender,
    scriptPerFrame: perFrame('ScriptDuration'),
    busyPerFrame: perFrame('TaskDuration'),
    gpuCpu: cpuPerFrame('gpu'),
    rendererCpu: cpuPerFrame('renderer'),
  };
}

/**
 * Drags the map with the mouse in small steps, as a hand would pan it, and times the
 * handling of each mouse move: the page's pointer listeners (the cursor over an entity)
 * and MapLibre's, between a listener capturing it on the window and one it bubbles up to.
 */
async function drag(page) {
  const STEPS = 120;
  const box = await page.evaluate(() => {
    const b = window.jumeauBench;
    b.moveTimes = [];
    let start = 0;
    b.dragOn = [() => { start = performance.now(); }, () => { b.moveTimes.push(performance.now() - start); }];
    window.addEventListener('mousemove', b.dragOn[0], true);
    window.addEventListener('mousemove', b.dragOn[1], false);
    const r = b.target.getCanvas().getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  });
  await page.mouse.move(box.x - 150, box.y - 100);
  await page.mouse.down();
  await page.mouse.move(box.x + 150, box.y + 100, { steps: STEPS / 2 });
  await page.mouse.move(box.x - 150, box.y - 100, { steps: STEPS / 2 });
  await page.mouse.up();
  const times = await page.evaluate(async () => {
    const b = window.jumeauBench;
    window.removeEventListener('mousemove', b.dragOn[0], true);
    window.removeEventListener('mousemove', b.dragOn[1], false);
    await new Promise((ok) => (b.target.loaded() ? ok() : b.target.once('idle', ok)));
    return b.moveTimes;
  });
  return { dragMedian: median(times), dragP95: pct(times, 95) };
}

/** Shows or hides every layer drawing the view's entities (the background stays). */
async function showData(page, sources, visible) {
  await page.evaluate(async ({ ids, v }) => {
    const m = window.jumeauBench.target;
    for (const l of m.getStyle().layers) {
      if (ids.includes(l.source)) m.setLayoutProperty(l.id, 'visibility', v ? 'visible' : 'none', { validate: false });
    }
    await new Promise((ok) => (m.loaded() ? ok() : m.once('idle', ok)));
  }, { ids: sources, v: visible });
}

/**
 * Puts exactly `n` points into the view's point sources instead of its entities: copies of
 * the real points (so their states, hence colours and sizes, keep their proportions) at
 * pseudo-random places across the visible area, the worst case for drawing them. Sources of
 * lines and polygons are emptied so that the map holds `n` entities.
 */
async function synthesize(page, sources, n) {
  return page.evaluate(async ({ ids, count }) => {
    const m = window.jumeauBench.target;
    const real = [];
    for (const id of ids) {
      const data = await m.getSource(id).getData();
      for (const f of data.features || []) if (f.geometry?.type === 'Point') real.push({ id, f });
    }
    const b = m.getBounds();
    let seed = 42;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const out = new Map(ids.map((id) => [id, []]));
    for (let i = 0; i < count && real.length; i += 1) {
      const { id, f } = real[i % real.length];
      const coordinates = [b.getWest() + rand() * (b.getEast() - b.getWest()), b.getSouth() + rand() * (b.getNorth() - b.getSouth())];
      out.get(id).push({ ...f, id: undefined, geometry: { type: 'Point', coordinates }, properties: { ...f.properties, id: `synthetic:${i}` } });
    }
    for (const [id, features] of out) m.getSource(id).setData({ type: 'FeatureCollection', features });
    await new Promise((ok) => m.once('idle', ok));
    return [...out.values()].reduce((s, fs) => s + fs.length, 0);
  }, { ids: sources, count: n });
}

/** The view's entities: every GeoJSON source but the ring around the selected entity. */
async function dataSources(page) {
  return page.evaluate(() => Object.entries(window.jumeauBench.target.getStyle().sources)
    .filter(([id, src]) => src.type === 'geojson' && id !== 'selected').map(([id]) => id));
}

/** The moves with the view's entities drawn, then the same moves with them hidden. */
async function compare(page, cdp, sources) {
  const counts = await mapCounts(page, sources);
  const withData = { ...(await pass(page, cdp)), ...(await drag(page)) };
  await showData(page, sources, false);
  const without = { ...(await pass(page, cdp)), ...(await drag(page)) };
  await showData(page, sources, true);
  return { ...counts, ...withData, without };
}

/**
 * Opens a view on a fresh page, waits for its map and its features, then measures its own
 * entities and, when `--synthetic N` is above 0, N synthetic points in their place.
 */
async function movement(hash, ready) {
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
  const sources = await dataSources(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const results = [await compare(page, cdp, sources)];
  if (SYNTHETIC > 0) {
    const n = await synthesize(page, sources, SYNTHETIC);
    results.push({ synthetic: n, ...(await compare(page, cdp, sources)) });
  }
  await context.close();
  if (errors.length) throw new Error(`script errors: ${errors.join(' | ')}`);
  return results;
}

console.log(`# Jumeau web interface measurements`);
console.log(`\n${new Date().toISOString()}, ${base}${ASSETS ? ` (scripts from ${ASSETS})` : ''}, Chromium ${version} headless (WebGL by SwiftShader, software), `
  + `${cpus().length} CPUs, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

// -- 1. time to interactive ----------------------------------------------------------------
const loads = { home: [], map: [] };
for (let i = 0; i < (args.includes('--no-loads') ? 0 : RUNS); i += 1) {
  loads.home.push(await loadOnce('#accueil'));
  loads.map.push(await loadOnce('#carte'));
}
if (loads.map.length) printLoads(loads);

/** The table of the loads. */
function printLoads(runs) {
  console.log(`## Time to interactive, ${RUNS} cold loads each (median / max)\n`);
  console.log('| view | ready | first API request | last API answer (calls) | API bytes | ready after the last answer | first contentful paint | largest contentful paint | DOMContentLoaded | load event | transferred | requests | long tasks (longest) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [view, rs] of Object.entries(runs)) {
    const col = (f, fmt) => `${fmt(median(rs.map(f)))} / ${fmt(Math.max(...rs.map(f)))}`;
    const what = view === 'home' ? 'home `#accueil` (cards filled)' : 'map `#carte` (first idle, all layers, list)';
    console.log(`| ${what} | ${col((r) => r.ready, ms)} | ${col((r) => r.firstApi, ms)} | ${col((r) => r.api, ms)} (${median(rs.map((r) => r.apiCalls))}) | ${col((r) => r.apiBytes, kb)} | ${col((r) => r.ready - r.api, ms)} | ${col((r) => r.fcp, ms)} | ${col((r) => r.lcp, ms)} | `
      + `${col((r) => r.dcl, ms)} | ${col((r) => r.load, ms)} | ${col((r) => r.bytes, kb)} | ${median(rs.map((r) => r.requests))} | `
      + `${median(rs.map((r) => r.longTasks))} (${ms(Math.max(...rs.map((r) => r.longest)))}) |`);
  }
  if (!args.includes('--calls')) return;
  // The API calls of the slowest run of each view: when each was asked, how long the server
  // took before its first byte, when it ended, bytes on the wire and decoded.
  for (const [view, rs] of Object.entries(runs)) {
    const slow = rs.reduce((a, r) => (r.ready > a.ready ? r : a));
    console.log(`\n${view}, slowest run (ready ${ms(slow.ready)}, main.js in at ${ms(slow.mainJs)}):\n`);
    console.log('| call | asked at | first byte after | answered at | transferred | decoded |');
    console.log('|---|---|---|---|---|---|');
    for (const c of [...slow.calls].sort((a, b) => a.start - b.start)) {
      console.log(`| \`${c.url.slice(0, 110)}\` | ${ms(c.start)} | ${ms(c.wait)} | ${ms(c.end)} | ${c.bytes} | ${c.size} |`);
    }
  }
}

// -- 2. pan and zoom -------------------------------------------------------------------------
const views = [
  {
    name: 'map `#carte` (clustered sources)',
    hash: '#carte',
    ready: () => {
      const m = window.jumeau?.map;
      if (!m || !window.jumeauBench.map) return false;
      window.jumeauBench.target = m;
      return true;
    },
  },
  {
    name: 'lighting `#eclairage` (working points grouped up to zoom 15, faults and emergencies one by one)',
    hash: '#eclairage',
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

/**
 * What the entities add: the same moves with the entities' layers shown, then hidden (the
 * background alone). SwiftShader's rasterising weighs on the frame rate and on the main
 * thread's busy time of both; MapLibre's render, its draw calls and the scripts per frame
 * are the part that stays on the CPU with a GPU.
 */
function printCosts(rows) {
  const f1 = (x) => x.toFixed(1);
  console.log(`\n## What the entities cost per frame: the same moves with their layers shown / hidden\n`);
  console.log('| view | features in the sources | zoom | frames per second | median frame | MapLibre render, median | render p95 | WebGL draw calls per render | scripts per frame | main thread busy per frame | renderer CPU per frame | GPU process CPU per frame | mouse move while dragging, median | its p95 |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const w = r.without;
    console.log(`| ${r.name} | ${r.inSources} | ${f1(r.zoom)} | ${f1(r.fps)} / ${f1(w.fps)} | ${f1(r.median)} / ${f1(w.median)} ms | `
      + `${f1(r.renderMedian)} / ${f1(w.renderMedian)} ms | ${f1(r.renderP95)} / ${f1(w.renderP95)} ms | `
      + `${f1(r.drawsPerRender)} / ${f1(w.drawsPerRender)} | ${f1(r.scriptPerFrame)} / ${f1(w.scriptPerFrame)} ms | ${f1(r.busyPerFrame)} / ${f1(w.busyPerFrame)} ms | `
      + `${f1(r.rendererCpu)} / ${f1(w.rendererCpu)} ms | ${f1(r.gpuCpu)} / ${f1(w.gpuCpu)} ms | `
      + `${f1(r.dragMedian)} / ${f1(w.dragMedian)} ms | ${f1(r.dragP95)} / ${f1(w.dragP95)} ms |`);
  }
}

const moves = [];
const costs = [];
if (!args.includes('--no-moves')) {
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
  for (const v of views.filter((x) => !only || x.hash === `#${only}`)) {
    const [own, synthetic] = await movement(v.hash, v.ready);
    moves.push({ name: v.name, ...own });
    costs.push({ name: v.name, ...own });
    if (synthetic) costs.push({ name: `${v.name}, ${synthetic.synthetic} synthetic points`, ...synthetic });
  }
}

if (moves.length) {
  console.log(`\n## Pan and zoom, about ${MOVE_SECONDS} s of panBy, zoomTo and flyTo (SwiftShader)\n`);
  console.log('| view | features in the sources | rendered at start | DOM markers | frames per second | median frame | p95 frame | longest frame | frames > 50 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of moves) {
    console.log(`| ${r.name} | ${r.inSources} | ${r.rendered} | ${r.markers} | ${r.fps.toFixed(1)} | ${r.median.toFixed(1)} ms | `
      + `${r.p95.toFixed(1)} ms | ${r.max.toFixed(0)} ms | ${r.long} of ${r.frames} |`);
  }
  console.log(`\nLayers drawing them: ${moves.map((r) => `${r.name}: ${r.layers.join(', ')}`).join('; ')}`);
  printCosts(costs);
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
