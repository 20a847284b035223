/**
 * @dogestry/core/internal: the pieces the CLI and the server package build on (the engine
 * client, the cache, save parsing, the load tar, the format). Not for users: anything here
 * may change in any release. Users import `@dogestry/core`.
 */

export { BufferPool, lent, pipeGivingBack, written } from './buffer-pool.js';
export { BlobCache, defaultCacheDir } from './cache.js';
export { listTagKeys } from './catalog.js';
export { decode, detectEncoding, encoderFor } from './compression.js';
export { DockerApiEngine } from './docker/api-engine.js';
export { connectionOptions, DEFAULT_DOCKER_HOST, resolveDockerHost } from './docker/connection.js';
export { buildLoadTar } from './docker/load-tar.js';
export { type EntrySink, parseSave, type SaveLayout, type SaveResult } from './docker/save-parser.js';
export * as format from './format.js';
export { WriterLease } from './lease.js';
export { rawFrame, SEGMENT } from './lz4-frames.js';
export { bytesPassed } from './memory.js';
export { http, https } from './node-http.js';
export { sharedChainLength } from './pull.js';
export { moveIntoPlace } from './push.js';
export { formatNameTag, idPrefixOf, type NameTag, parseNameTag } from './reference.js';
export { resolveImage } from './resolve.js';
export { MAX_TICKET_SECONDS } from './ticket.js';
export { normalizeRemoteUrl, openRemote, openTicket, TRANSPORT_PACKAGES, useRemote } from './transports.js';
