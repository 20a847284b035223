import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { decode } from './compression.js';
import {
  DigestMismatchError,
  DogestryError,
  FormatError,
  LegacyFormatError,
  NotAnImageError,
  NotFoundError,
  ReadOnlyError,
  UpgradeRequiredError,
} from './errors.js';
import { checkConfig, type ImageManifest, parseManifest, parseStoredManifest } from './manifest.js';
import { assertDigestHex, assertName, assertTag, hexOf, type NameTag } from './reference.js';
import type { Remote } from './remote.js';
import { readAll } from './streams.js';

export * from './manifest.js';

/** Repository format version this code reads and writes; see docs/FORMAT.md. */
export const FORMAT_VERSION = 2;

export const MARKER_KEY = 'dogestry.json';
export const blobKey = (hex: string): string => `blobs/sha256/${assertDigestHex(hex)}`;
export const imageKey = (imageIdHex: string): string => `images/sha256/${assertDigestHex(imageIdHex)}`;
export const tagKey = (ref: NameTag): string => `repositories/${assertName(ref.name)}/${assertTag(ref.tag)}`;
export const REPOSITORIES_PREFIX = 'repositories/';
export const IMAGES_PREFIX = 'images/sha256/';
export const TMP_PREFIX = 'tmp/';
/**
 * Feature `registry`: which blobs (uploaded or mounted there) and manifests (pushed there) a
 * repository of the registry face holds: `links/<name>/blobs/sha256/<hex>`, `links/<name>/manifests/sha256/<hex>`.
 */
export const LINKS_PREFIX = 'links/';
export const linkKey = (name: string, kind: 'blobs' | 'manifests', hex: string): string =>
  `${LINKS_PREFIX}${assertName(name)}/${kind}/sha256/${assertDigestHex(hex)}`;
/** Feature `registry`: `referrers/sha256/<subject hex>/<manifest hex>`, one empty key per manifest naming that subject. */
export const REFERRERS_PREFIX = 'referrers/sha256/';
export const referrerKey = (subjectHex: string, manifestHex: string): string =>
  `${REFERRERS_PREFIX}${assertDigestHex(subjectHex)}/${assertDigestHex(manifestHex)}`;

/** The platform this process runs on, as image indexes name platforms (`linux/amd64`). */
export const HOST_PLATFORM = {
  os: process.platform === 'win32' ? 'windows' : process.platform,
  architecture:
    ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ??
    process.arch,
};

/**
 * Manifest and config of one image, each verified by digest and checked against the other. An
 * image index (a multi-platform image a client pushed) stands for its manifest for `platform`
 * (this host's by default); `manifestHex` says which manifest that was.
 */
export async function readImage(
  remote: Remote,
  indexOrManifestHex: string,
  platform: { os: string; architecture: string } = HOST_PLATFORM,
): Promise<{ manifest: ImageManifest; config: Buffer; diffIds: string[]; manifestHex: string }> {
  let manifestHex = indexOrManifestHex;
  const bytes = await readSmallBlob(remote, manifestHex);
  const stored = parseStoredManifest(bytes, blobKey(manifestHex));
  if (stored.kind === 'index') {
    const match = stored.manifests.find((m) => m.platform?.os === platform.os && m.platform?.architecture === platform.architecture);
    if (!match) {
      const offered = stored.manifests.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
      throw new NotAnImageError(
        `${blobKey(manifestHex)} is an image index with no ${platform.os}/${platform.architecture} image (it has: ${offered || 'none'})`,
      );
    }
    manifestHex = match.digest.slice('sha256:'.length);
  }
  const manifest = parseManifest(
    manifestHex === indexOrManifestHex ? bytes : await readSmallBlob(remote, manifestHex),
    blobKey(manifestHex),
  );
  const configHex = hexOf(manifest.config.digest);
  const config = await readSmallBlob(remote, configHex);
  if (config.length !== manifest.config.size) {
    throw new FormatError(`${blobKey(configHex)} is ${config.length} bytes but its manifest says ${manifest.config.size}`);
  }
  const diffIds = checkConfig(config, blobKey(configHex), manifest);
  return { manifest, config, diffIds, manifestHex };
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Read a whole small blob (manifest, config) and verify its digest. */
export async function readSmallBlob(remote: Remote, hex: string): Promise<Buffer> {
  const key = blobKey(hex);
  const stream = await remote.read(key);
  if (!stream) throw new NotFoundError(`${key} is missing on ${remote.url}; the repository is incomplete: run \`dogestry verify\``);
  // Stored bytes decode to the content (a blob the registry took that begins with a magic number is stored wrapped).
  let bytes: Buffer;
  try {
    bytes = await readAll(Readable.from(decode(stream)), 64 * 1024 * 1024);
  } catch (error) {
    if (error instanceof DogestryError || (error as NodeJS.ErrnoException).code?.startsWith('E')) throw error;
    throw new DigestMismatchError(key, `sha256:${hex}`, `undecodable content (${(error as Error).message})`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== hex) throw new DigestMismatchError(key, `sha256:${hex}`, `sha256:${actual}`);
  return bytes;
}

export async function readText(remote: Remote, key: string): Promise<string | undefined> {
  const stream = await remote.read(key);
  if (!stream) return undefined;
  return (await readAll(stream, 1024 * 1024)).toString('utf8');
}

/** Parse the content of a tag or image pointer: `sha256:<manifest digest>\n`. */
export function parsePointer(text: string, key: string): string {
  const digest = text.trim();
  if (/^[0-9a-f]{64}$/.test(digest)) {
    throw new LegacyFormatError(
      `${key} holds a bare image id: this remote was written by dogestry 0.x/1.x, which this version neither reads nor modifies. Push to a new remote`,
    );
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new FormatError(`${key} does not hold a sha256 digest`);
  return digest.slice('sha256:'.length);
}

export async function readPointer(remote: Remote, key: string): Promise<string | undefined> {
  const text = await readText(remote, key);
  return text === undefined ? undefined : parsePointer(text, key);
}

export const pointerBody = (hex: string): Buffer => Buffer.from(`sha256:${hex}\n`);

/**
 * Format features this dogestry knows (docs/FORMAT.md, "Marker and features"). `leases`:
 * writers announce what they rely on in `leases/` and check `gc/` before publishing a tag, so
 * gc is safe while they run; every writer adds it. `zstd`: some layers are stored
 * zstd-encoded; a push adds it before it first writes one, so writers that could not read
 * them back (or would take them for broken) refuse the remote.
 */
export const KNOWN_FEATURES: readonly string[] = ['leases', 'zstd', 'registry'];
/** What every writer adds to the marker. */
export const WRITER_FEATURES: readonly string[] = ['leases'];

export interface Marker {
  readonly format: number;
  readonly features: readonly string[];
}

export async function readMarker(remote: Remote): Promise<Marker | undefined> {
  const text = await readText(remote, MARKER_KEY);
  if (text === undefined) return undefined;
  let value: { format?: unknown; features?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (cause) {
    throw new FormatError(`${MARKER_KEY} on ${remote.url} is not JSON`, { cause });
  }
  if (value.format !== FORMAT_VERSION) {
    throw new FormatError(
      `${remote.url} holds repository format ${String(value.format)}; this dogestry reads format ${FORMAT_VERSION}. Use a dogestry release that matches.`,
    );
  }
  const features = value.features ?? [];
  if (!Array.isArray(features) || features.some((f) => typeof f !== 'string')) {
    throw new FormatError(`${MARKER_KEY} on ${remote.url} has a malformed features list`);
  }
  return { format: FORMAT_VERSION, features };
}

/**
 * Check the marker. An empty remote (no marker) reads as empty; a marker with another format
 * version is refused so that an older dogestry never misreads a newer repository. Writers
 * (`for: 'write'`) also refuse features they do not know, and a markerless remote that holds
 * dogestry 0.x/1.x's layout.
 */
export async function checkMarker(remote: Remote, use: 'read' | 'write' = 'read'): Promise<'present' | 'absent'> {
  const marker = await readMarker(remote);
  if (!marker) {
    if (use === 'write') await assertNotLegacy(remote);
    return 'absent';
  }
  const unknown = marker.features.filter((f) => !KNOWN_FEATURES.includes(f));
  if (use === 'write' && unknown.length > 0) {
    throw new UpgradeRequiredError(
      `${remote.url} uses format feature(s) ${unknown.join(', ')} that this dogestry does not know, so it will not write there: upgrade dogestry`,
    );
  }
  return 'present';
}

/**
 * Check the marker for a reader: a remote without one holds nothing to read, which is most
 * often a wrong path or URL, so say so (NOT_FOUND) instead of "no such image".
 */
export async function requireRepository(remote: Remote): Promise<void> {
  if ((await checkMarker(remote)) === 'absent') {
    await assertNotLegacy(remote);
    throw new NotFoundError(`${remote.url} holds no dogestry repository (no ${MARKER_KEY}): check the path or URL, or push to it first`);
  }
}

/**
 * Write the marker if it is missing (create-only, so racing first pushes are fine), and add
 * `features` to it if it lacks them. Features are only ever added: a lost update between two
 * writers adding different features is repaired by each writer re-reading until it sees its own.
 */
export async function ensureMarker(remote: Remote, features: readonly string[] = WRITER_FEATURES): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const marker = await readMarker(remote);
    if (marker && features.every((f) => marker.features.includes(f))) return;
    if (!marker) await assertNotLegacy(remote);
    const merged = [...new Set([...(marker?.features ?? []), ...features])].sort();
    const body = Buffer.from(`${JSON.stringify({ format: FORMAT_VERSION, features: merged })}\n`);
    await remote.write(MARKER_KEY, Readable.from([body]), { createOnly: !marker, size: body.length });
  }
  throw new FormatError(`${MARKER_KEY} on ${remote.url} keeps changing under us: another writer is rewriting it`);
}

/**
 * Refuse a markerless remote that holds dogestry 0.x/1.x's layout (`images/<id>/layer.tar`,
 * tags holding a bare id), so a push never overwrites its tags or adds a marker to it.
 */
async function assertNotLegacy(remote: Remote): Promise<void> {
  await remote.prepare?.('list');
  if (!remote.capabilities.list) return;
  const legacy = new LegacyFormatError(
    `${remote.url} holds a dogestry 0.x/1.x repository (images/<id>/layer.tar), which this version neither reads nor modifies: push to a new remote`,
  );
  for await (const key of remote.list('images/')) {
    if (!key.startsWith(IMAGES_PREFIX)) throw legacy;
  }
  let checked = 0;
  for await (const key of remote.list(REPOSITORIES_PREFIX)) {
    const text = await readText(remote, key);
    if (text !== undefined && /^[0-9a-f]{64}$/.test(text.trim())) throw legacy;
    if (++checked >= 3) break;
  }
}

export async function assertWritable(remote: Remote): Promise<void> {
  await remote.prepare?.('write');
  if (!remote.capabilities.write) {
    throw new ReadOnlyError(`${remote.url} is read-only: pushing, removing and gc need a writable remote`);
  }
}
