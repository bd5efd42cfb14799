// The services of the commune, the entity types behind each, and the twin's entities as
// the map and the list both show them.
import { features } from './api.js';
import { t, has } from './i18n.js';

const SDM = (repo) => `https://raw.githubusercontent.com/smart-data-models/${repo}/master/context.jsonld`;

/** JSON-LD contexts naming the types and attributes of each data model. */
export const CONTEXTS = {
  lighting: SDM('dataModel.Streetlighting'),
  building: SDM('dataModel.Building'),
  environment: SDM('dataModel.Environment'),
  alert: SDM('dataModel.Alert'),
  water: SDM('dataModel.WaterDistributionManagementEPANET'),
};

/** One entry per service: its colour on the map and the queries that fetch its entities. */
export const SERVICES = [
  { id: 'lighting', color: '#a15600', queries: [{ type: 'Streetlight,StreetlightControlCabinet', context: CONTEXTS.lighting }] },
  { id: 'water', color: '#0b5cad', queries: [{ type: 'Junction,Pipe,Pump,Tank,Reservoir,Valve', context: CONTEXTS.water }, { type: 'WaterObserved', context: CONTEXTS.environment }] },
  { id: 'buildings', color: '#6a3d9a', queries: [{ type: 'Building', context: CONTEXTS.building }] },
  { id: 'risks', color: '#b3151b', queries: [{ type: 'FloodMonitoring,WeatherObserved', context: CONTEXTS.environment }, { type: 'Alert', context: CONTEXTS.alert }] },
  { id: 'reports', color: '#1b6b3a', queries: [{ type: 'ServiceRequest' }] },
  { id: 'roads', color: '#595959', queries: [{ type: 'RoadSegment' }] },
];

/** The query (type list and context) that covers an entity type, with its service. */
export function queryOf(type) {
  for (const service of SERVICES) {
    for (const q of service.queries) if (q.type.split(',').includes(type)) return { service, query: q };
  }
  return null;
}

/** Whether an entity is working, broken or on alert, from its key-values. */
export function stateOf(type, p) {
  if (type === 'Alert' || type === 'ServiceRequest') return 'alert';
  if (type === 'FloodMonitoring' && Number(p.currentLevel) >= Number(p.alertLevel)) return 'alert';
  if (p.status === undefined) return type === 'FloodMonitoring' ? 'ok' : 'unknown';
  return ['ok', 'working', 'on'].includes(p.status) ? 'ok' : 'fault';
}

/** An entity as the views show it. */
function item(feature, service) {
  const p = feature.properties || {};
  const type = String(p.type || String(feature.id).split(':')[2] || '');
  return { id: String(feature.id), type, service: service.id, props: p, state: stateOf(type, p), feature };
}

/** A readable name: the entity's own name, or its kind and local number. */
export function label(it) {
  if (typeof it.props.name === 'string' && it.props.name) return it.props.name;
  const local = it.id.split(':').pop();
  return `${typeLabel(it.type)} ${local}`;
}

/** The name of an entity type in the current language. */
export const typeLabel = (type) => (has(`type.${type}`) ? t(`type.${type}`) : type);

/** The attributes the map and the list need (the geometry comes anyway): less to download. */
const PICK = 'id,type,name,status,currentLevel,alertLevel';

/** Every entity shown, by id. */
export const items = new Map();
const listeners = [];

/** Calls `f` whenever entities are loaded or change. */
export const onItemsChange = (f) => listeners.push(f);
const changed = (ids) => { for (const f of listeners) f(ids); };

/** Asks for the entities of every service: all queries at once, kept in service order. */
const fetchAll = () => Promise.all(SERVICES.flatMap((service) => service.queries.map(
  async (q) => ({ service, list: await features({ type: q.type, pick: PICK }, q.context) }))));

/** Answers asked for before the views were ready (see early.js), not yet taken. */
let early = null;
/** Whether a `loadAll` has begun: asking early then would only ask twice. */
let begun = false;

/** Asks for the entities of every service now; the next `loadAll` takes the answers. */
export function prefetch() {
  if (!early && !begun) {
    early = fetchAll();
    // A failure is reported by the `loadAll` that takes it over.
    early.catch(() => {});
  }
}

/** Loads the entities of every service (the answers asked for early, when there are). */
export async function loadAll() {
  const pending = early;
  early = null;
  begun = true;
  const loaded = await (pending || fetchAll());
  items.clear();
  for (const { service, list } of loaded) {
    for (const f of list) {
      const it = item(f, service);
      items.set(it.id, it);
    }
  }
  changed(null);
}

/** What the map and the list show of an entity: a change elsewhere redraws nothing. */
const shownPart = (it) => JSON.stringify([it.props.name, it.state, it.feature.geometry]);

/**
 * Reads one changed entity again (or forgets a deleted one) and tells the views; returns
 * the entity, or null when nothing the views show changed (a sensor's new reading), so
 * that live readings do not redraw the list under the reader's focus.
 */
export async function refresh(id, types, deleted) {
  const found = types.map(queryOf).find(Boolean);
  if (!found) return null;
  if (deleted) {
    items.delete(id);
  } else {
    const before = items.get(id);
    const [f] = await features({ id, type: found.query.type, pick: PICK }, found.query.context);
    if (!f) return null;
    const it = item(f, found.service);
    items.set(id, it);
    if (before && shownPart(before) === shownPart(it)) return null;
  }
  changed([id]);
  return items.get(id) || null;
}

/** What the map and the list show: services ticked, only faults, searched text. */
export const filters = { services: new Set(SERVICES.map((s) => s.id)), onlyFaults: false, search: '' };

/** Whether an entity passes the service and fault filters (the search is the list's). */
export const shown = (it) =>
  filters.services.has(it.service) && (!filters.onlyFaults || it.state === 'fault' || it.state === 'alert');
