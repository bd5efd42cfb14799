// Read as soon as the page names it (async), before MapLibre is parsed: asks the API for
// the entities of the map when the page opens on it, so that they arrive while the map is
// being set up. main.js takes the answers over (the same module instance of services.js).
import { prefetch } from './services.js';

if (location.hash === '#carte') prefetch();
