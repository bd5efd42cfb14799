// Browser check of the lighting view's map, run by tests/web.rs against a server holding
// 60 points lumineux close together, one of them faulty:
//
//   node crates/jumeau-web/tests/lighting_map.mjs <base url>
//
// At a low zoom the working points are grouped and the faulty one is still drawn on its
// own, above the groups; close up every point is drawn on its own; the legend counts the
// fault. Uses Debian's Chromium (or $CHROMIUM) through playwright-core from e2e/node_modules.
// Prints "ok" and the figures, or exits with 1 saying what failed.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../../e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const base = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--use-gl=angle',
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/#eclairage`);
  await page.waitForFunction(() => {
    const m = window.jumeau?.lightingMap;
    return Boolean(m?.getSource('lt-alone') && m.querySourceFeatures('lt-alone').length > 0
      && m.querySourceFeatures('lt-points').length > 0 && document.querySelector('#lt-legend li'));
  }, null, { timeout: 60000, polling: 100 });
  const at = (zoom) => page.evaluate(async (z) => {
    const m = window.jumeau.lightingMap;
    const idle = new Promise((ok) => m.once('idle', ok));
    m.jumpTo({ zoom: z });
    await idle;
    const alone = m.queryRenderedFeatures({ layers: ['lt-alone'] });
    const points = m.queryRenderedFeatures({ layers: ['lt-points'] });
    const layers = m.getStyle().layers.map((l) => l.id);
    return {
      zoom: z,
      alone: alone.map((f) => f.properties.state),
      groups: points.filter((f) => f.properties.cluster).length,
      grouped: points.filter((f) => f.properties.cluster).reduce((s, f) => s + f.properties.point_count, 0),
      singles: points.filter((f) => !f.properties.cluster).length,
      faultAbove: layers.indexOf('lt-alone') > layers.indexOf('lt-points'),
    };
  }, zoom);
  const far = await at(11);
  check(far.alone.length === 1 && far.alone[0] === 'fault', `zoom 11: the faulty lamp drawn on its own (${JSON.stringify(far.alone)})`);
  check(far.groups >= 1 && far.singles === 0, `zoom 11: the working lamps grouped (${far.groups} groups, ${far.singles} single)`);
  check(far.faultAbove, 'the faults are drawn above the groups');
  const near = await at(17.5);
  check(near.alone.length === 1, `zoom 17.5: the faulty lamp drawn (${JSON.stringify(near.alone)})`);
  check(near.groups === 0 && near.singles === 59, `zoom 17.5: every working lamp on its own (${near.groups} groups, ${near.singles} single)`);
  const legend = await page.textContent('#lt-legend');
  check(/En panne \(1\)/.test(legend), `the legend counts the fault: ${legend}`);
  check(errors.length === 0, `script errors: ${errors.join(' | ')}`);
  console.log(JSON.stringify({ far, near }));
} catch (e) {
  failures.push(String(e));
  // What the page showed, to tell why.
  failures.push(await page?.evaluate(() => JSON.stringify({
    legend: document.querySelector('#lt-legend')?.textContent,
    error: document.getElementById('error')?.textContent,
    status: document.getElementById('lt-status')?.textContent,
    map: Boolean(window.jumeau?.lightingMap),
  })).catch((x) => String(x)));
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`FAIL: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('ok');
