/**
 * @dogestry/core: the repository format, the Remote contract, the Docker engine adapter, and
 * push / pull / listing / verify. Transports are loaded by URL scheme on demand.
 */
export * from './errors.js';
export type { Remote, RemoteCapabilities, RemoteFactory, RemoteOptions, StatResult, WriteOptions } from './remote.js';
export { assertSafeKey } from './remote.js';
export { MemoryRemote } from './memory-remote.js';
export { openRemote, normalizeRemoteUrl, TRANSPORT_PACKAGES } from './transports.js';
export { push, type PushOptions, type PushResult, type PushedLayer } from './push.js';
export { pull, type PullOptions, type PullResult, type EnginePullResult, sharedChainLength } from './pull.js';
export { listImages, listTags, removeTag, type ImageListing, type RemoteSelection } from './catalog.js';
export { verify, type VerifyProblem, type VerifyReport } from './verify.js';
export { resolveImage } from './resolve.js';
export type { ProgressEvent, ProgressListener } from './progress.js';
export { type Compression, COMPRESSIONS, parseCompression, encoderFor, decode, detectEncoding } from './compression.js';
export type { DockerEngine, EngineImage, EngineInfo } from './docker/engine.js';
export { DockerodeEngine } from './docker/dockerode-engine.js';
export { connectionOptions, resolveDockerHost, DEFAULT_DOCKER_HOST } from './docker/connection.js';
export { parseSave, type SaveResult, type SaveLayout } from './docker/save-parser.js';
export { buildLoadTar } from './docker/load-tar.js';
export { BlobCache, defaultCacheDir } from './cache.js';
export { parseNameTag, formatNameTag, idPrefixOf, type NameTag } from './reference.js';
export * as format from './format.js';
