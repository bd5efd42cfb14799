// Start-up: language, the two views (home and map with list), the entity panel, and the
// live updates pushed by the server.
import { settings, showError } from './api.js';
import { t, translatePage, toggleLang, onLangChange } from './i18n.js';
import { loadAll, refresh, filters, items, label, onItemsChange } from './services.js';
import { initMap, drawMap, focusOn, highlight } from './map.js';
import { drawLegend, drawList } from './list.js';
import { openPanel, closePanel, shownEntity, updatePanel } from './panel.js';
import { drawHome } from './home.js';
import { initKey, drawKeyStatus } from './key.js';
import { showLighting, relabelLighting } from './lighting.js';
import { showWater, relabelWater } from './water.js';

let mapStarted = false;
const status = (text) => { document.getElementById('status').textContent = text; };

/** Opens an entity from the list (the map centres on it) or from the map. */
function open(id, from) {
  if (from) focusOn(items.get(id));
  else highlight(items.get(id));
  openPanel(id, from);
}

function close() {
  closePanel();
  highlight(null);
}

/** The map first: its workers then cluster and tile the entities while the list is drawn. */
function redraw(resetList = false) {
  drawMap(resetList);
  drawLegend(() => redraw(true));
  drawList(open, resetList);
}

/** Shows the view the address names (#accueil or #carte). */
function route() {
  const onWater = location.hash === '#eau';
  document.getElementById('water').hidden = !onWater;
  document.getElementById('nav-water').toggleAttribute('aria-current', onWater);
  if (onWater) {
    document.getElementById('nav-water').setAttribute('aria-current', 'page');
    for (const id of ['home', 'twin', 'lighting']) document.getElementById(id).hidden = true;
    for (const id of ['nav-home', 'nav-map', 'nav-lighting']) document.getElementById(id).removeAttribute('aria-current');
    showWater();
    return;
  }
  const onLighting = location.hash === '#eclairage';
  document.getElementById('lighting').hidden = !onLighting;
  document.getElementById('nav-lighting').toggleAttribute('aria-current', onLighting);
  if (onLighting) {
    document.getElementById('nav-lighting').setAttribute('aria-current', 'page');
    for (const id of ['home', 'twin']) document.getElementById(id).hidden = true;
    for (const id of ['nav-home', 'nav-map']) document.getElementById(id).removeAttribute('aria-current');
    showLighting();
    return;
  }
  const onMap = location.hash === '#carte';
  document.getElementById('home').hidden = onMap;
  document.getElementById('twin').hidden = !onMap;
  document.getElementById('nav-home').toggleAttribute('aria-current', !onMap);
  document.getElementById('nav-map').toggleAttribute('aria-current', onMap);
  if (onMap) {
    document.getElementById('nav-map').setAttribute('aria-current', 'page');
    if (!mapStarted) {
      mapStarted = true;
      initMap(document.getElementById('map'), (id) => open(id, null));
    }
    drawMap();
  } else {
    document.getElementById('nav-home').setAttribute('aria-current', 'page');
    return drawHome();
  }
  return undefined;
}

/**
 * Live updates: each change reads the entity again and moves its feature; the open panel
 * is drawn again when what the map shows changed, else it shows the new reading in place.
 */
function listen() {
  const events = new EventSource(`/jumeau/v1/events?tenant=${encodeURIComponent(settings.tenant)}`);
  events.addEventListener('change', async (e) => {
    try {
      const { id, types, deleted } = JSON.parse(e.data);
      const it = await refresh(id, types, deleted);
      if (it) status(t('status.updated', { name: label(it) }));
      if (shownEntity()?.id === id && !deleted) {
        if (it) openPanel(id, null, false);
        else updatePanel(id);
      }
    } catch (err) {
      showError(err);
    }
  });
  events.addEventListener('reload', () => loadAll().catch(showError));
  events.addEventListener('open', () => {
    if (document.getElementById('status').textContent === t('error.live')) status('');
  });
  // The browser reconnects by itself; meanwhile the status line says so.
  events.addEventListener('error', () => status(t('error.live')));
}

async function start() {
  translatePage();
  document.getElementById('tenant-name').textContent = settings.tenant;
  document.getElementById('lang').addEventListener('click', toggleLang);
  document.getElementById('panel-close').addEventListener('click', close);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  document.getElementById('search').addEventListener('input', (e) => { filters.search = e.target.value; drawList(open, true); });
  document.getElementById('only-faults').addEventListener('change', (e) => { filters.onlyFaults = e.target.checked; redraw(true); });
  window.addEventListener('hashchange', route);
  initKey(() => {
    if (!document.getElementById('home').hidden) drawHome();
    const it = shownEntity();
    if (it) openPanel(it.id, null, false);
  });
  onLangChange(() => {
    drawKeyStatus();
    relabelLighting();
    relabelWater();
    redraw();
    if (!document.getElementById('home').hidden) drawHome();
    const it = shownEntity();
    if (it) openPanel(it.id, null, false);
  });
  onItemsChange(() => redraw());
  status(t('status.loading'));
  try {
    // The home page's figures first: the entities of the map would slow them down.
    await route();
    await loadAll();
    status(t('status.loaded', { n: items.size }));
  } catch (err) {
    status('');
    showError(err);
  }
  listen();
}

start();
