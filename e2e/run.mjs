// End-to-end test of the web interface against a running `jumeau demo`:
//   node e2e/run.mjs <base url> <screenshot dir>
// JUMEAU_KEY (an admin or editor key of the demo tenant) lets it write readings and a
// change; JUMEAU_ASSETS (a folder such as crates/jumeau-web/assets) serves the page's
// scripts from there instead of the server's. Uses the machine's Chromium (no browser
// download) and axe-core.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node run.mjs <base url> <screenshot dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const key = process.env.JUMEAU_KEY;
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const LIGHTING = 'https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld';
const LAMP = 'urn:ngsi-ld:Streetlight:crest:PL00001';

let passed = 0;
let failed = 0;
async function check(name, f) {
  try {
    await f();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}: ${e.message}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Writes through the API with the key, in the lighting context. */
async function write(method, path, body) {
  const resp = await fetch(base + path, {
    method,
    headers: {
      Authorization: `Bearer ${key}`, 'NGSILD-Tenant': 'demo', 'Content-Type': 'application/json',
      Link: `<${LIGHTING}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`,
    },
    body: JSON.stringify(body),
  });
  assert(resp.ok, `${method} ${path}: ${resp.status} ${await resp.text()}`);
}

/** Readings: a lamp's lighting level every hour for two days (the demo's own history
 * covers the meters, buildings, water and river). */
async function seed() {
  const now = Date.now();
  const level = [];
  for (let h = 47; h >= 0; h -= 1) {
    level.push({ type: 'Property', value: 0.4 + 0.5 * ((h % 24) < 8 ? 1 : 0), observedAt: new Date(now - h * 3600e3).toISOString() });
  }
  await write('POST', `/ngsi-ld/v1/temporal/entities/${encodeURIComponent(LAMP)}/attrs`, { illuminanceLevel: level });
  // A sensor's latest reading is also the entity's current value.
  await write('POST', `/ngsi-ld/v1/entities/${encodeURIComponent(LAMP)}/attrs`, { illuminanceLevel: level[level.length - 1] });
}

/** No serious or critical axe-core violation on the page as it is. */
async function axe(page, where) {
  // Evaluated through the debugging protocol, which the page's Content-Security-Policy
  // (no inline script) does not restrict.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  for (const v of result.violations) console.log(`  axe (${where}): ${v.impact} ${v.id} x${v.nodes.length} ${v.nodes[0]?.target}`);
  assert(!bad.length, `${bad.length} serious/critical violations: ${bad.map((v) => v.id).join(', ')}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR' });
if (process.env.JUMEAU_ASSETS) {
  // The page's scripts from a working tree, to check a change of the interface against a
  // server built before it.
  await context.route(/\/assets\/[^/]+\/js\/[a-z0-9]+\.js$/, (route) => route.fulfill({
    contentType: 'text/javascript; charset=utf-8',
    body: readFileSync(join(process.env.JUMEAU_ASSETS, 'js', route.request().url().split('/').pop())),
  }));
}
const page = await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') console.log(`  console: ${m.text()}`); });

if (key) await check('readings seeded through the API', seed);

// First load of the map view, counting bytes on the wire (compressed) per response.
let mapDrawn = false;
await check('first load: page, map and list, within the size budget', async () => {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const urls = new Map();
  let total = 0;
  let vendor = 0;
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    total += e.encodedDataLength;
    if ((urls.get(e.requestId) || '').includes('/vendor/maplibre-gl')) vendor += e.encodedDataLength;
  });
  const t0 = Date.now();
  await page.goto(`${base}/#carte`);
  await page.waitForSelector('#list tbody tr', { timeout: 30000 });
  mapDrawn = await page.evaluate(() => !document.getElementById('map').classList.contains('nomap'));
  if (mapDrawn) {
    await page.waitForFunction(() => {
      const m = window.jumeau?.map;
      return m && m.loaded() && m.querySourceFeatures('lighting').length > 0;
    }, null, { timeout: 30000 });
  }
  const ms = Date.now() - t0;
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  console.log(`  transferred ${total} bytes (${vendor} of them MapLibre), map and list ready in ${ms} ms; map drawn: ${mapDrawn}`);
  assert(total <= 1.5e6, `first load ${total} bytes > 1.5 MB`);
  assert(total - vendor <= 300e3, `first load without MapLibre ${total - vendor} bytes > 300 KB`);
  assert(await page.title(), 'the page has a title');
});

await check('the map draws the demo entities (or the list does without WebGL)', async () => {
  const rows = await page.$$eval('#list tbody tr', (r) => r.length);
  assert(rows > 0, 'no row in the list');
  const caption = await page.textContent('#list caption');
  const total = Number(caption.match(/sur (\d+)/)?.[1]);
  assert(total >= 150, `the list counts ${total} entities, the demo has more than 150`);
  if (mapDrawn) {
    const n = await page.evaluate(() => {
      const m = window.jumeau.map;
      const ids = ['lighting', 'buildings', 'risks'];
      return ids.map((id) => m.querySourceFeatures(id).length);
    });
    console.log(`  source features (lighting, buildings, risks): ${n.join(', ')}`);
    assert(n.every((x) => x > 0), 'a service has no feature on the map');
    const rendered = await page.evaluate(() => window.jumeau.map.queryRenderedFeatures().length);
    assert(rendered > 0, 'nothing rendered on the map');
  } else {
    console.log('  the map canvas could not render headless: checked the list only');
  }
  await page.screenshot({ path: join(shots, 'carte.png') });
});

await check('a streetlight opens with its chart', async () => {
  await page.fill('#search', 'PL00001');
  await page.click('#list button[data-id="urn:ngsi-ld:Streetlight:crest:PL00001"]');
  await page.waitForSelector('#panel:not([hidden])');
  const title = await page.textContent('#panel-title');
  assert(title.includes('PL00001'), `panel title ${title}`);
  if (key) {
    await page.waitForSelector('#panel svg.chart polyline', { timeout: 15000 });
    const label = await page.getAttribute('#panel svg.chart', 'aria-label');
    assert(/Niveau d'éclairement/.test(label), `chart label ${label}`);
  } else {
    await page.waitForSelector('#panel .charts');
  }
  await page.screenshot({ path: join(shots, 'panneau.png') });
  await axe(page, 'map with panel');
  await page.keyboard.press('Escape');
  await page.fill('#search', '');
});

await check('live update: a new reading of the open entity shows in its panel, chart included, focus kept', async () => {
  if (!key) return;
  await page.fill('#search', 'PL00001');
  await page.click(`#list button[data-id="${LAMP}"]`);
  await page.waitForSelector('#panel svg.chart polyline', { timeout: 15000 });
  // The value shown for the lighting level: the term after its name.
  const shown = () => page.evaluate(() => [...document.querySelectorAll('#panel dl.props dt')]
    .find((dt) => dt.textContent === "Niveau d'éclairement")?.nextElementSibling?.textContent || '');
  const before = { value: await shown(), chart: await page.getAttribute('#panel svg.chart', 'aria-label') };
  await page.focus('#period');
  try {
    // A reading as a sensor sends it: into the history, and the entity's current value.
    const reading = { type: 'Property', value: 0.777, observedAt: new Date().toISOString() };
    await write('POST', `/ngsi-ld/v1/temporal/entities/${encodeURIComponent(LAMP)}/attrs`, { illuminanceLevel: [reading] });
    await write('PATCH', `/ngsi-ld/v1/entities/${encodeURIComponent(LAMP)}/attrs`, { illuminanceLevel: reading });
    await page.waitForFunction(() => [...document.querySelectorAll('#panel dl.props dt')]
      .some((dt) => dt.textContent === "Niveau d'éclairement" && /0,78/.test(dt.nextElementSibling?.textContent)), null, { timeout: 10000 });
    await page.waitForFunction((b) => {
      const label = document.querySelector('#panel svg.chart')?.getAttribute('aria-label');
      return label && label !== b;
    }, before.chart, { timeout: 10000 });
    console.log(`  panel value ${before.value.trim()} -> ${(await shown()).trim()}`);
    assert(await page.evaluate(() => document.activeElement?.id === 'period'), 'the focus stays where it was');
    assert(!(await page.textContent('#panel')).includes('Chargement'), 'no loading message for a live reading');
  } finally {
    await page.keyboard.press('Escape');
    await page.fill('#search', '');
  }
});

await check("live update: the demo's own sensor readings reach the open panel without polling", async () => {
  const station = 'urn:ngsi-ld:WeatherObserved:crest:station';
  await page.fill('#search', 'station');
  await page.click(`#list button[data-id="${station}"]`);
  await page.waitForSelector('#panel dl.props');
  await page.evaluate(() => { window.shownList = document.querySelector('#panel dl.props'); });
  try {
    // The simulated network server sends this station's uplink once per round of the
    // fleet; the panel reads the station again when its change event arrives.
    const read = await page.waitForRequest((r) => r.url().includes(`/ngsi-ld/v1/entities/${encodeURIComponent(station)}`), { timeout: 60000 });
    await read.response();
    assert(await page.evaluate(() => document.querySelector('#panel dl.props') === window.shownList),
      'the values are updated in place, the panel is not drawn again');
  } finally {
    await page.keyboard.press('Escape');
    await page.fill('#search', '');
  }
});

await check('only faults: the map shows the faulty lamps, and a click on one opens its panel', async () => {
  await page.check('#only-faults');
  await page.waitForFunction(() => {
    const states = [...document.querySelectorAll('#list tbody td:last-child')].map((td) => td.className);
    return states.length > 0 && states.every((c) => c === 'state-fault' || c === 'state-alert');
  });
  if (mapDrawn) {
    const point = await page.evaluate(async () => {
      const m = window.jumeau.map;
      await new Promise((ok) => (m.loaded() ? ok() : m.once('idle', ok)));
      // The layer draws clusters too: a lamp on its own has no `cluster` property.
      const f = m.queryRenderedFeatures({ layers: ['lighting-points'] }).find((x) => !x.properties.cluster);
      if (!f) return null;
      const p = m.project(f.geometry.coordinates);
      const box = m.getCanvas().getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y, id: f.properties.id };
    });
    assert(point, 'no faulty lamp drawn on its own');
    await page.mouse.click(point.x, point.y);
    await page.waitForSelector('#panel:not([hidden])');
    const title = await page.textContent('#panel-title');
    assert(title.includes(point.id.split(':').pop()), `panel ${title} for ${point.id}`);
    await page.keyboard.press('Escape');
  }
  await page.uncheck('#only-faults');
});

await check('keyboard only: skip link, Tab to the list, Enter opens, Escape closes', async () => {
  await page.goto(`${base}/?clavier#carte`);
  await page.waitForSelector('#list tbody tr');
  await page.keyboard.press('Tab');
  assert(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the first Tab reaches the skip link');
  let onList = false;
  for (let i = 0; i < 60 && !onList; i += 1) {
    await page.keyboard.press('Tab');
    onList = await page.evaluate(() => !!document.activeElement.closest('#list tbody'));
  }
  assert(onList, 'Tab never reached the list');
  const id = await page.evaluate(() => document.activeElement.dataset.id);
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert(outline !== 'none', 'the focus is visible');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#panel:not([hidden])');
  assert(await page.evaluate(() => document.getElementById('panel').contains(document.activeElement)), 'focus moves into the panel');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#panel', { state: 'hidden' });
  assert(await page.evaluate((i) => document.activeElement.dataset.id === i, id), 'focus returns to the list');
});

await check('live update: a change pushed by server-sent events reaches the list', async () => {
  if (!key) return;
  await page.fill('#search', 'PL00002');
  const lamp = `/ngsi-ld/v1/entities/${encodeURIComponent('urn:ngsi-ld:Streetlight:crest:PL00002')}/attrs`;
  await write('PATCH', lamp, { status: { type: 'Property', value: 'ok' } });
  await page.waitForSelector('#list tbody tr td.state-ok', { timeout: 10000 });
  await write('PATCH', `/ngsi-ld/v1/entities/${encodeURIComponent('urn:ngsi-ld:Streetlight:crest:PL00002')}/attrs`,
    { status: { type: 'Property', value: 'columnIssue' } });
  await page.waitForSelector('#list tbody tr td.state-fault', { timeout: 10000 });
  await page.fill('#search', '');
});

await check('home page for elected officials, and the language switch', async () => {
  await page.goto(`${base}/#accueil`);
  await page.waitForFunction(() => !document.querySelector('#home-cards').textContent.includes('Chargement'), null, { timeout: 15000 });
  const text = await page.textContent('#home-cards');
  assert(/kWh/.test(text) && /l'an dernier/.test(text), `energy card: ${text}`);
  assert(/en panne/.test(text), 'the faulty lamps are counted');
  assert(/Drôme au pont de Crest/.test(text), 'the river gauge is shown');
  await page.screenshot({ path: join(shots, 'accueil.png'), fullPage: true });
  await axe(page, 'home');
  await page.click('#lang');
  assert(await page.evaluate(() => document.documentElement.lang) === 'en', 'lang attribute is en');
  assert((await page.textContent('#nav-home')).trim() === 'Home', 'navigation in English');
  await page.waitForFunction(() => /street light/.test(document.querySelector('#home-cards').textContent), null, { timeout: 15000 });
  await page.screenshot({ path: join(shots, 'home-en.png'), fullPage: true });
  await page.click('#lang');
  assert(await page.evaluate(() => document.documentElement.lang) === 'fr', 'back to French');
});

await check('home page figures from the demo history: energy against last year, incidents, flood, changes', async () => {
  await page.goto(`${base}/#accueil`);
  await page.waitForFunction(() => !document.querySelector('#home-cards').textContent.includes('Chargement'), null, { timeout: 30000 });
  const cards = await page.$$eval('#home-cards .card', (cs) => cs.map((c) => c.textContent));
  const [energy, incidents, river, changes] = cards;
  for (const service of ['Éclairage public', 'Bâtiments publics']) assert(energy.includes(service), `energy card lacks ${service}: ${energy}`);
  assert((energy.match(/l'an dernier \(\d+\s?% de (plus|moins)\)/g) || []).length === 2, `both services compared with last year: ${energy}`);
  assert(/€/.test(energy), 'the energy is also given in euros');
  assert(/Surchauffe/.test(incidents), `the overheating school is an open alert: ${incidents}`);
  assert(/Crue cette semaine : 3,\d\d m/.test(river), `the flood peak of the week: ${river}`);
  assert(/Eau distribuée hier : [\d\s\u202f]+ m³/.test(changes), `water supplied yesterday: ${changes}`);
  console.log(`  ${energy.replace(/\s+/g, ' ').slice(0, 160)}`);
});

await check('key entry: a refused key says so, an accepted one lets an agent change a lamp', async () => {
  if (!key) return;
  await page.goto(`${base}/#carte`);
  await page.waitForSelector('#list tbody tr');
  await page.click('#key-box summary');
  await page.fill('#key-input', 'not-a-key-of-this-server');
  await page.click('#key-form button[type="submit"]');
  await page.waitForFunction(() => /Clé refusée/.test(document.getElementById('key-status').textContent), null, { timeout: 10000 });
  assert(await page.evaluate(() => !sessionStorage.getItem('jumeau.apiKey')), 'a refused key is not kept');
  await axe(page, 'key entry');
  await page.fill('#key-input', key);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Clé acceptée/.test(document.getElementById('key-status').textContent), null, { timeout: 10000 });
  assert(await page.evaluate((k) => sessionStorage.getItem('jumeau.apiKey') === k, key), 'the key is kept for the tab');
  assert(await page.inputValue('#key-input') === '', 'the field is emptied once the key is kept');
  await page.click('#key-box summary');
  await page.fill('#search', 'PL00003');
  await page.click('#list button[data-id="urn:ngsi-ld:Streetlight:crest:PL00003"]');
  await page.waitForSelector('#panel #edit-state');
  await page.selectOption('#edit-state', 'brokenLantern');
  await page.click('#panel form.edit button[type="submit"]');
  // Saved, then pushed back by the live updates: the panel shows the new state.
  await page.waitForFunction(() => /lanterne cassée/.test(document.querySelector('#panel dl.props')?.textContent || ''), null, { timeout: 10000 });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#list tbody tr td.state-fault', { timeout: 10000 });
  await page.click('#key-box summary');
  await page.click('#key-forget');
  assert(await page.evaluate(() => !sessionStorage.getItem('jumeau.apiKey')), 'the key is forgotten');
  await page.fill('#search', '');
});

await check('API errors are shown in words', async () => {
  await page.goto(`${base}/?tenant=commune-inconnue#carte`);
  await page.waitForSelector('#error:not([hidden])');
  const text = await page.textContent('#error');
  // An unknown tenant looks like a private one to a visitor without a key.
  assert(/n'existe pas|clé d'accès/.test(text), `error text: ${text}`);
  const api = await fetch(`${base}/ngsi-ld/v1/nothing-here`);
  assert(api.status === 404 && (api.headers.get('content-type') || '').includes('json'), 'API 404s stay ProblemDetails');
});

await check('lighting view: legend, savings chart, 24-hour preview, emergency confirmation, compliance report', async () => {
  await page.goto(`${base}/#eclairage`);
  for (const sel of ['#lt-legend li', '#lt-savings svg', '#lt-preview svg', '#lt-report table']) {
    await page.waitForSelector(sel, { timeout: 15000 });
  }
  await page.fill('#lt-why', 'essai de bout en bout');
  await page.click('#lt-emergency button[type="submit"]');
  await page.waitForSelector('#lt-confirm[open]');
  await page.click('#lt-confirm-no');
  assert(!(await page.$('#lt-confirm[open]')), 'the confirmation closes without lighting anything');
  await axe(page, 'lighting');
});

await check('water view: network map with its legend, DMAs and indicators', async () => {
  await page.goto(`${base}/#eau`);
  for (const sel of ['#wt-legend li', '#wt-dmas', '#wt-indicators']) {
    await page.waitForSelector(sel, { timeout: 15000 });
  }
  await axe(page, 'water');
});

await check('no script error in the page', async () => {
  assert(!pageErrors.length, pageErrors.join(' | '));
});

await browser.close();
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
