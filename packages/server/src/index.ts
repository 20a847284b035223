/**
 * @dogestry/server: dogestry's servers. Today the registry face: the pull side of the OCI
 * distribution API over any dogestry remote (`dogestry registry`). Listening, TLS and users
 * are shared with the host agent to come (`dogestry serve`).
 */
export { Htpasswd } from './htpasswd.js';
export { type Address, isLoopback, type ListenOptions, listen, parseListen } from './listener.js';
export { type RegistryOptions, type RunningRegistry, startRegistry } from './registry/server.js';
