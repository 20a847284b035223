/**
 * @dogestry/core/internal: the pieces the CLI and the server package build on (the engine
 * client, the cache, save parsing, the load tar, the format). Not for users: anything here
 * may change in any release. Users import `@dogestry/core`.
 *
 * Like every entry point, this one loads the whole library. The CLI imports each name from
 * `@dogestry/core/lib/<module>` (package.json maps it to that one module) instead, so that a
 * command loads only what it uses: `dogestry images` of an empty directory took 73 ms instead
 * of 102 (medians of 15 alternated runs), `tags` 86 instead of 132, `verify` of a 26 MB image 165 instead of 206.
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
