// Calls to the Jumeau API, and API errors turned into words a person understands.
import { t } from './i18n.js';

const config = JSON.parse(document.getElementById('config').textContent);
const params = new URLSearchParams(location.search);

/** Page settings: tenant (?tenant= or the server's default), basemap style URL. */
export const settings = {
  tenant: params.get('tenant') || config.tenant,
  basemap: config.basemap,
};

/** Where the API key typed in the page is kept: this tab only, gone when it closes. */
const KEY_STORE = 'jumeau.apiKey';
/** The same key in memory, for when the browser refuses storage (private mode). */
let memoryKey = '';

/** The API key typed in the page, or an empty string. */
export function apiKey() {
  try { return sessionStorage.getItem(KEY_STORE) || memoryKey; } catch { return memoryKey; }
}

/** Keeps an API key for this tab (an empty one forgets it). */
export function setApiKey(value) {
  const v = String(value || '').trim();
  try {
    if (v) sessionStorage.setItem(KEY_STORE, v);
    else sessionStorage.removeItem(KEY_STORE);
  } catch { /* storage refused (private mode): the key lasts until the page reloads */ }
  memoryKey = v;
}

/**
 * The headers every call sends (the views' own APIs too): tenant, and the key when one
 * was typed.
 */
export function baseHeaders(accept) {
  const headers = { Accept: accept, 'NGSILD-Tenant': settings.tenant };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** An API failure, with a message for people. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Turns a failed answer (ProblemDetails) into a French (or English) sentence. */
async function problem(resp) {
  let body = {};
  try { body = await resp.json(); } catch { /* not JSON: the status says enough */ }
  const kind = String(body.type || '').split('/').pop();
  const s = resp.status;
  if (s === 401) return t(apiKey() ? 'error.401key' : 'error.401');
  if (s === 403) return t('error.403');
  if (s === 404 && kind === 'NonexistentTenant') return t('error.404tenant', { tenant: settings.tenant });
  if (s === 404) return t('error.404');
  if (s === 400) return t('error.400', { detail: body.detail || body.title || '' });
  if (s === 503) return t('error.503');
  return t('error.other', { status: s });
}

/**
 * GET an API path with query parameters; `context` is the JSON-LD @context URL naming
 * the types and attributes (sent as a Link header). Returns the parsed JSON and headers.
 */
export async function get(path, query = {}, { context, accept = 'application/json' } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  const headers = baseHeaders(accept);
  if (context) headers.Link = `<${context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;
  let resp;
  try {
    resp = await fetch(url, { headers });
  } catch {
    throw new ApiError(t('error.network'), 0);
  }
  if (!resp.ok) throw new ApiError(await problem(resp), resp.status);
  return { body: await resp.json(), headers: resp.headers };
}

/**
 * Sends a change (PATCH, POST...) with the key typed in the page; `context` names the
 * attributes. Returns the response status.
 */
export async function send(method, path, body, { context } = {}) {
  const headers = { ...baseHeaders('application/json'), 'Content-Type': 'application/json' };
  if (context) headers.Link = `<${context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;
  let resp;
  try {
    resp = await fetch(new URL(path, location.origin), { method, headers, body: JSON.stringify(body) });
  } catch {
    throw new ApiError(t('error.network'), 0);
  }
  if (!resp.ok) throw new ApiError(await problem(resp), resp.status);
  return resp.status;
}

/**
 * A call to one of Jumeau's service APIs (lighting, water) with the page's tenant and key:
 * JSON in; JSON out (text for other `accept` types); `errorText(status, detail)` words a
 * refusal in the view's terms.
 */
export async function serviceCall(url, method, body, { accept = 'application/json', errorText }) {
  const headers = baseHeaders(accept);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(t('error.network'), 0);
  }
  if (!resp.ok) {
    let detail = '';
    try { detail = (await resp.json()).detail || ''; } catch { /* the status says enough */ }
    throw new ApiError(errorText(resp.status, detail), resp.status);
  }
  return accept === 'application/json' || accept === 'application/geo+json' ? resp.json() : resp.text();
}

/**
 * Every entity of a query as GeoJSON features (keyValues), in one answer: Jumeau's map
 * endpoint takes the parameters of an entity query and sends every match at once, so no
 * count and no later pages are waited for.
 */
export async function features(query, context) {
  const { body } = await get('/jumeau/v1/map', query, { context, accept: 'application/geo+json' });
  return body.features || [];
}

/** How many entities match a query (count=true, no entity sent back). */
export async function count(query, context) {
  const { headers } = await get('/ngsi-ld/v1/entities', { ...query, count: 'true', limit: 0 }, { context });
  return Number(headers.get('NGSILD-Results-Count') || 0);
}

/** Temporal query over entities (several pages when there are many). */
export async function temporal(query, context) {
  const out = [];
  for (let offset = 0; ; offset += 100) {
    const { body } = await get('/ngsi-ld/v1/temporal/entities', { ...query, limit: 100, offset }, { context });
    out.push(...body);
    if (body.length < 100) return out;
  }
}

/** The history of one entity, aggregated per period. */
export async function entityHistory(id, query, context) {
  const { body } = await get(`/ngsi-ld/v1/temporal/entities/${encodeURIComponent(id)}`, query, { context });
  return body;
}

/** One entity, normalized (values with their units). */
export async function entity(id, context) {
  const { body } = await get(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}`, {}, { context });
  return body;
}

const errorBox = () => document.getElementById('error');

/** Shows an error sentence at the top of the page (announced to screen readers). */
export function showError(err) {
  const box = errorBox();
  box.textContent = err instanceof ApiError ? err.message : t('error.other', { status: '?' });
  box.hidden = false;
  if (!(err instanceof ApiError)) console.error(err);
}

/** Hides the error box. */
export function clearError() {
  errorBox().hidden = true;
}
