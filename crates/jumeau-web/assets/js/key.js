// The key entry: an agent of the commune pastes an API key once per tab; it is kept in
// sessionStorage (gone when the tab closes) and sent as `Authorization: Bearer <key>` with
// every call, so the interface can write.
import { apiKey, setApiKey, count, ApiError } from './api.js';
import { CONTEXTS } from './services.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
let state = 'none';

/** Says whether a key is in use (again after a language switch). */
export function drawKeyStatus() {
  const has = Boolean(apiKey());
  if (!has && state !== 'refused') state = 'none';
  $('key-status').textContent = t(`key.${state}`);
  $('key-forget').hidden = !has;
  $('key-box').classList.toggle('key-on', has);
}

/** Checks a key with a cheap read: an unknown or revoked key is refused with 401. */
async function check() {
  try {
    await count({ type: 'Streetlight' }, CONTEXTS.lighting);
    return 'active';
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return 'refused';
    return 'unchecked';
  }
}

/** Wires the form; `onChange` runs after a key is set or forgotten (to read again). */
export function initKey(onChange) {
  if (apiKey()) state = 'active';
  $('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('key-input');
    if (!input.value.trim()) {
      state = 'empty';
      drawKeyStatus();
      input.focus();
      return;
    }
    setApiKey(input.value);
    input.value = '';
    state = 'checking';
    drawKeyStatus();
    state = await check();
    if (state === 'refused') setApiKey('');
    drawKeyStatus();
    onChange();
  });
  $('key-forget').addEventListener('click', () => {
    setApiKey('');
    state = 'forgotten';
    drawKeyStatus();
    $('key-input').focus();
    onChange();
  });
  drawKeyStatus();
}
