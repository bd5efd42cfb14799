// The MapLibre map: one clustered GeoJSON source per service for the points, one source
// for every line and polygon, drawn from the same entities as the list. Without WebGL the
// list alone carries the information.
import { SERVICES, items, shown } from './services.js';
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
    addLayers();
    listenToLayers(onSelect);
    loaded = true;
    drawMap();
  });
  return map;
}

const EMPTY = { type: 'FeatureCollection', features: [] };
/** The layer drawing each service's points and clusters. */
const pointLayer = (s) => `${s.id}-points`;
/** Lines and polygons of every service share one source and two layers (coloured by their
 * `service`): every layer costs its draw calls at each frame, even when nearly empty. */
const SHAPE_LAYERS = ['shapes-fill', 'shapes-lines'];
const serviceColour = ['match', ['get', 'service'], ...SERVICES.flatMap((s) => [s.id, s.color]), '#595959'];
/** A value for clusters, another for single entities. */
const clusterOr = (cluster, single) => ['case', ['has', 'point_count'], cluster, single];
/** A value for entities in fault or on alert (they stand out), another for the rest. */
const byState = (ok, bad) => ['match', ['get', 'state'], 'fault', bad, 'alert', bad, ok];

/**
 * The sources and layers. Points stay in one clustered source per service, so that a
 * cluster never mixes services; its clusters and single points share one circle layer.
 */
function addLayers() {
  // Tiles cut with a margin just wider than what is drawn across their edges (buffer, in
  // 1/512 of a tile: 24 px for the largest cluster and its stroke, 3 px lines) and no finer
  // than zoom 17 (the map goes no closer when it frames or centres): MapLibre's worker cuts
  // and the GPU draws less, which is most of the wait once the answers are in.
  map.addSource('shapes', { type: 'geojson', data: EMPTY, buffer: 16, tolerance: 0.75, maxzoom: 17 });
  map.addLayer({ id: 'shapes-fill', type: 'fill', source: 'shapes', filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': serviceColour, 'fill-opacity': 0.25, 'fill-outline-color': serviceColour } });
  map.addLayer({ id: 'shapes-lines', type: 'line', source: 'shapes', filter: ['==', ['geometry-type'], 'LineString'],
    paint: { 'line-color': serviceColour, 'line-width': 3 } });
  for (const s of SERVICES) {
    map.addSource(s.id, { type: 'geojson', data: EMPTY, cluster: true, clusterRadius: 40, clusterMaxZoom: 16, buffer: 32, maxzoom: 17 });
    map.addLayer({ id: pointLayer(s), type: 'circle', source: s.id,
      paint: { 'circle-color': s.color,
        'circle-opacity': clusterOr(0.85, 1),
        'circle-radius': clusterOr(['step', ['get', 'point_count'], 12, 10, 16, 50, 22], byState(5, 8)),
        'circle-stroke-color': clusterOr('#fff', byState('#fff', '#000')),
        'circle-stroke-width': clusterOr(2, byState(1.5, 3)) } });
  }
  map.addSource('selected', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'selected', type: 'circle', source: 'selected',
    paint: { 'circle-radius': 13, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#000091', 'circle-stroke-width': 4 } });
}

/**
 * Clicks and the pointer over every entity layer at once: MapLibre queries the features
 * under the pointer at each mouse move once per listener, so one listener for all layers
 * rather than one per layer.
 */
function listenToLayers(onSelect) {
  const layers = [...SHAPE_LAYERS, ...SERVICES.map(pointLayer)];
  map.on('click', layers, async (e) => {
    const f = e.features[0];
    if (!f) return;
    if (!f.properties.cluster) {
      onSelect(f.properties.id);
      return;
    }
    const zoom = await map.getSource(f.source).getClusterExpansionZoom(f.properties.cluster_id);
    map.easeTo({ center: f.geometry.coordinates, zoom });
  });
  map.on('mouseenter', layers, () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', layers, () => { map.getCanvas().style.cursor = ''; });
}

/** Puts the filtered entities into the sources (a service unticked gets none), and frames
 * them the first time (and after a filter changes, when `refit`). */
export function drawMap(refit = false) {
  if (!map || !loaded) return;
  const bySource = new Map([['shapes', []], ...SERVICES.map((s) => [s.id, []])]);
  const bounds = new window.maplibregl.LngLatBounds();
  for (const it of items.values()) {
    const g = it.feature.geometry;
    if (!g || !shown(it)) continue;
    const key = g.type === 'Point' ? it.service : 'shapes';
    bySource.get(key).push({ type: 'Feature', geometry: g, properties: { id: it.id, type: it.type, state: it.state, service: it.service } });
    if (g.type === 'Point') bounds.extend(g.coordinates);
  }
  for (const [id, features] of bySource) map.getSource(id).setData({ type: 'FeatureCollection', features });
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
