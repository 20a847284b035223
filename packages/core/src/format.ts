import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DigestMismatchError, FormatError, NotFoundError, ReadOnlyError } from './errors.js';
import { assertDigestHex, assertName, assertTag, hexOf, type NameTag } from './reference.js';
import type { Remote } from './remote.js';
import { readAll } from './streams.js';

/** Repository format version this code reads and writes; see docs/FORMAT.md. */
export const FORMAT_VERSION = 2;

export const MARKER_KEY = 'dogestry.json';
export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Layers are described by their uncompressed tar; encoding is a storage detail (magic bytes). */
export const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export const blobKey = (hex: string): string => `blobs/sha256/${assertDigestHex(hex)}`;
export const imageKey = (imageIdHex: string): string => `images/sha256/${assertDigestHex(imageIdHex)}`;
export const tagKey = (ref: NameTag): string => `repositories/${assertName(ref.name)}/${assertTag(ref.tag)}`;
export const REPOSITORIES_PREFIX = 'repositories/';
export const IMAGES_PREFIX = 'images/sha256/';
export const TMP_PREFIX = 'tmp/';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  /** Uncompressed size for layers, exact size for config. */
  readonly size: number;
}

/** An OCI image manifest whose layer digests are diffIDs (uncompressed). */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_MANIFEST;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export function buildManifest(
  config: { digest: string; size: number },
  layers: readonly { digest: string; size: number }[],
): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    config: { mediaType: MEDIA_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MEDIA_LAYER, digest: l.digest, size: l.size })),
  };
}

/** Canonical bytes of a manifest: the same image always gives the same manifest digest. */
export function serializeManifest(manifest: ImageManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest));
}

export function parseManifest(bytes: Buffer, key: string): ImageManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new FormatError(`${key} is not JSON`, { cause });
  }
  const m = value as Partial<ImageManifest>;
  if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new FormatError(`${key} is not an OCI image manifest`);
  }
  for (const d of [m.config, ...m.layers]) {
    if (typeof d.digest !== 'string' || typeof d.size !== 'number') throw new FormatError(`${key} has a malformed descriptor`);
    hexOf(d.digest);
  }
  return m as ImageManifest;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Read a whole small blob (manifest, config) and verify its digest. */
export async function readSmallBlob(remote: Remote, hex: string): Promise<Buffer> {
  const key = blobKey(hex);
  const stream = await remote.read(key);
  if (!stream) throw new NotFoundError(`${key} is missing on ${remote.url}; the repository is incomplete: run \`dogestry verify\``);
  const bytes = await readAll(stream, 64 * 1024 * 1024);
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
  try {
    return hexOf(digest);
  } catch (cause) {
    throw new FormatError(`${key} does not hold a sha256 digest`, { cause });
  }
}

export async function readPointer(remote: Remote, key: string): Promise<string | undefined> {
  const text = await readText(remote, key);
  return text === undefined ? undefined : parsePointer(text, key);
}

export const pointerBody = (hex: string): Buffer => Buffer.from(`sha256:${hex}\n`);

/**
 * Check the marker. An empty remote (no marker) reads as empty; a marker with another format
 * version is refused so that an older dogestry never misreads a newer repository.
 */
export async function checkMarker(remote: Remote): Promise<'present' | 'absent'> {
  const text = await readText(remote, MARKER_KEY);
  if (text === undefined) return 'absent';
  let format: unknown;
  try {
    format = (JSON.parse(text) as { format?: unknown }).format;
  } catch (cause) {
    throw new FormatError(`${MARKER_KEY} on ${remote.url} is not JSON`, { cause });
  }
  if (format !== FORMAT_VERSION) {
    throw new FormatError(
      `${remote.url} holds repository format ${String(format)}; this dogestry reads format ${FORMAT_VERSION}. Use a dogestry release that matches.`,
    );
  }
  return 'present';
}

/** Write the marker if it is missing (create-only, so racing first pushes are fine). */
export async function ensureMarker(remote: Remote): Promise<void> {
  if ((await checkMarker(remote)) === 'present') return;
  await remote.write(MARKER_KEY, Readable.from([Buffer.from(`${JSON.stringify({ format: FORMAT_VERSION })}\n`)]), {
    createOnly: true,
  });
}

export function assertWritable(remote: Remote): void {
  if (!remote.capabilities.write) {
    throw new ReadOnlyError(`${remote.url} is read-only: pushing, removing and gc need a writable remote`);
  }
}
