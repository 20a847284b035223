/**
 * @dogestry/core: the repository format, the Remote contract, the Docker engine adapter, and
 * push / pull / listing / verify. Transports are loaded by URL scheme on demand.
 */

export { BlobCache, defaultCacheDir } from './cache.js';
export { type CachePruneOptions, type CachePruneReport, parseSize, pruneCache } from './cache-prune.js';
export { type ImageListing, listImages, listTags, type RemoteSelection, removeTag } from './catalog.js';
export { COMPRESSIONS, type Compression, decode, detectEncoding, encoderFor, parseCompression } from './compression.js';
export { DockerApiEngine } from './docker/api-engine.js';
export { connectionOptions, DEFAULT_DOCKER_HOST, resolveDockerHost } from './docker/connection.js';
export type { DockerEngine, EngineImage, EngineInfo } from './docker/engine.js';
export { buildLoadTar } from './docker/load-tar.js';
export { type EntrySink, parseSave, type SaveLayout, type SaveResult } from './docker/save-parser.js';
export * from './errors.js';
export * as format from './format.js';
export { type GcCount, type GcOptions, type GcReport, gc } from './gc.js';
export { MemoryRemote } from './memory-remote.js';
export type { ProgressEvent, ProgressListener } from './progress.js';
export { type EnginePullResult, type PullOptions, type PullResult, pull, sharedChainLength } from './pull.js';
export { type PushedLayer, type PushOptions, type PushResult, push } from './push.js';
export { formatNameTag, idPrefixOf, type NameTag, parseNameTag } from './reference.js';
export type {
  ReadOptions,
  Remote,
  RemoteCapabilities,
  RemoteFactory,
  RemoteOptions,
  StatResult,
  SweepResult,
  WriteOptions,
} from './remote.js';
export { assertSafeKey } from './remote.js';
export { resolveImage } from './resolve.js';
export { resumingRead } from './resume.js';
export {
  isPullTicket,
  MAX_TICKET_SECONDS,
  type PresignOptions,
  type PresignResult,
  type PullTicket,
  parseDuration,
  parseSeconds,
  presign,
} from './ticket.js';
export { normalizeRemoteUrl, openRemote, TRANSPORT_PACKAGES } from './transports.js';
export { type VerifyOptions, type VerifyProblem, type VerifyReport, verify } from './verify.js';
