/**
 * @dogestry/core: move Docker images between engines and dumb storage.
 *
 *   import { push, pull } from '@dogestry/core';
 *   await push({ remote: 's3://bucket/repo/', image: 'myapp:1.0' });
 *   await pull({ remote: '/srv/images', image: 'myapp:1.0' });
 *
 * This entry is the user API: the operations, their options and results, progress events and
 * the typed errors. Transport authors import `@dogestry/core/transport`; the CLI and the
 * server package use `@dogestry/core/internal`, which is not for users and may change in any
 * release. Transports are loaded by URL scheme on demand.
 */

export { type AgentInfo, type AgentTarget, agentInfo } from './agent-client.js';
export { type CachePruneOptions, type CachePruneReport, type PruneCount, parseSize, pruneCache } from './cache-prune.js';
export { type ImageListing, listImages, listTags, removeTag } from './catalog.js';
export { COMPRESSIONS, type Compression, parseCompression } from './compression.js';
export { DEFAULT_SERVER_PORT, type DelegationOptions } from './delegate.js';
export type { DockerEngine, EngineImage, EngineInfo } from './docker/engine.js';
export type { EngineSelection } from './engine-resolution.js';
export * from './errors.js';
export { type GcCount, type GcOptions, type GcReport, gc } from './gc.js';
export type { ProgressEvent, ProgressListener } from './progress.js';
export { type EnginePullResult, type PullOptions, type PullResult, pull } from './pull.js';
export { type PushedLayer, type PushOptions, type PushResult, push } from './push.js';
export type { Remote, RemoteOptions } from './remote.js';
export {
  type PresignOptions,
  type PresignResult,
  type PullTicket,
  parseDuration,
  parseSeconds,
  presign,
} from './ticket.js';
export type { RemoteSelection } from './transports.js';
export { type VerifyOptions, type VerifyProblem, type VerifyReport, verify } from './verify.js';
