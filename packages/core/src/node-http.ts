/**
 * node:http and node:https, loaded through `require`. An ESM import of a builtin reads every
 * export, and node:http's lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters then load
 * Node's bundled undici: on Node 24 that is 13 MiB of RSS and 50-70 ms at every start, for
 * classes dogestry never uses. `require` leaves the getters unread.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const http: typeof import('node:http') = require('node:http');
export const https: typeof import('node:https') = require('node:https');
