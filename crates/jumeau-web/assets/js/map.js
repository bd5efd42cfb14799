// The MapLibre map: one clustered GeoJSON source per service, drawn from the same
// entities as the list. Without WebGL the list alone carries the information.
import { SERVICES, items, shown, filters } from './services.js';
import { settings } from './api.js';
import { t } from './i18n.js';

let map = null;
let loaded = false;
let fitted = false;

const BLANK = {
  version: 8,
  sources: {},
  layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef0ec' } }],
};

/** Creates the map in `container`; `onSelect(id)` is called when an entity is clicked. */
export function initMap(container, onSelect) {
  try {
    map = new window.maplibregl.Map({
      container,
      style: settings.basemap || BLANK,
      center: [2.5, 46.6],
      zoom: 5,
      attributionControl: settings.basemap ? undefined : false,
      locale: { 'Map.Title': t('map.region'), 'NavigationControl.ZoomIn': t('map.zoomIn'), 'NavigationControl.ZoomOut': t('map.zoomOut') },
    });
  } catch (e) {
    console.warn('map unavailable', e);
    container.textContent = t('map.nowebgl');
    container.classList.add('nomap');
    return null;
  }
  map.addControl(new window.maplibregl.NavigationControl({ showCompass: false }));
  window.jumeau = { ...(window.jumeau || {}), map };
  map.on('load', () => {
    for (const s of SERVICES) addService(s, onSelect);
    map.addSource('selected', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: 'selected', type: 'circle', source: 'selected',
      paint: { 'circle-radius': 13, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#000091', 'circle-stroke-width': 4 } });
    loaded = true;
    drawMap();
  });
  return map;
}

/** The sources and layers of one service. */
function addService(s, onSelect) {
  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource(s.id, { type: 'geojson', data: empty, cluster: true, clusterRadius: 40, clusterMaxZoom: 16 });
  map.addSource(`${s.id}-shapes`, { type: 'geojson', data: empty });
  map.addLayer({ id: `${s.id}-fill`, type: 'fill', source: `${s.id}-shapes`, filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': s.color, 'fill-opacity': 0.25, 'fill-outline-color': s.color } });
  map.addLayer({ id: `${s.id}-lines`, type: 'line', source: `${s.id}-shapes`, filter: ['==', ['geometry-type'], 'LineString'],
    paint: { 'line-color': s.color, 'line-width': 3 } });
  map.addLayer({ id: `${s.id}-clusters`, type: 'circle', source: s.id, filter: ['has', 'point_count'],
    paint: { 'circle-color': s.color, 'circle-opacity': 0.85, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2,
      'circle-radius': ['step', ['get', 'point_count'], 12, 10, 16, 50, 22] } });
  map.addLayer({ id: `${s.id}-points`, type: 'circle', source: s.id, filter: ['!', ['has', 'point_count']],
    paint: { 'circle-color': s.color,
      'circle-radius': ['match', ['get', 'state'], 'fault', 8, 'alert', 8, 5],
      'circle-stroke-color': ['match', ['get', 'state'], 'fault', '#000', 'alert', '#000', '#fff'],
      'circle-stroke-width': ['match', ['get', 'state'], 'fault', 3, 'alert', 3, 1.5] } });
  for (const layer of [`${s.id}-points`, `${s.id}-lines`, `${s.id}-fill`]) {
    map.on('click', layer, (e) => e.features[0] && onSelect(e.features[0].properties.id));
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
  map.on('click', `${s.id}-clusters`, async (e) => {
    const f = e.features[0];
    const zoom = await map.getSource(s.id).getClusterExpansionZoom(f.properties.cluster_id);
    map.easeTo({ center: f.geometry.coordinates, zoom });
  });
}

/** Puts the filtered entities into the sources, and frames them the first time (and
 * after a filter changes, when `refit`). */
export function drawMap(refit = false) {
  if (!map || !loaded) return;
  const bySource = new Map();
  for (const s of SERVICES) {
    bySource.set(s.id, []);
    bySource.set(`${s.id}-shapes`, []);
  }
  const bounds = new window.maplibregl.LngLatBounds();
  for (const it of items.values()) {
    const g = it.feature.geometry;
    if (!g || !shown(it)) continue;
    const key = g.type === 'Point' ? it.service : `${it.service}-shapes`;
    bySource.get(key).push({ type: 'Feature', geometry: g, properties: { id: it.id, type: it.type, state: it.state } });
    if (g.type === 'Point') bounds.extend(g.coordinates);
  }
  for (const [id, features] of bySource) map.getSource(id).setData({ type: 'FeatureCollection', features });
  for (const s of SERVICES) {
    const v = filters.services.has(s.id) ? 'visible' : 'none';
    for (const l of ['fill', 'lines', 'clusters', 'points']) map.setLayoutProperty(`${s.id}-${l}`, 'visibility', v);
  }
  if ((!fitted || refit) && !bounds.isEmpty()) {
    map.fitBounds(bounds, { padding: 40, animate: false, maxZoom: 17 });
    fitted = true;
  }
}

/** Rings the entity whose panel is open (none when `it` is null). */
export function highlight(it) {
  const g = it?.feature.geometry;
  const features = g?.type === 'Point' ? [{ type: 'Feature', geometry: g, properties: {} }] : [];
  map?.getSource('selected')?.setData({ type: 'FeatureCollection', features });
}

/** Centres the map on an entity (when it is chosen in the list) and rings it. */
export function focusOn(it) {
  const g = it?.feature.geometry;
  if (map && g?.type === 'Point') map.easeTo({ center: g.coordinates, zoom: Math.max(map.getZoom(), 17) });
  highlight(it);
}
