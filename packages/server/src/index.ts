/**
 * @dogestry/server: dogestry's servers. The registry face: the OCI distribution API over any
 * dogestry remote (`dogestry registry`); and the host agent, which pulls into its own host's
 * engine for a deploy machine (`dogestry serve`). They share listening, TLS and the rule that
 * nothing beyond loopback is served without authentication.
 */

export { AGENT_PROTOCOL, type AgentOptions, type RunningAgent, startAgent } from './agent/server.js';
export { readToken } from './agent/token.js';
export { Htpasswd } from './htpasswd.js';
export { type Address, isLoopback, type ListenOptions, listen, parseListen } from './listener.js';
export { type RegistryOptions, type RunningRegistry, startRegistry } from './registry/server.js';
