/**
 * Manifests as a remote holds them (docs/FORMAT.md, "Manifests"): the canonical image
 * manifest `dogestry push` writes, whose layers are uncompressed tars named by diffID, and
 * whatever the registry face stored as clients pushed it (feature `registry`): OCI and Docker
 * schema 2 image manifests with gzip or zstd layers named by their compressed digest, image
 * indexes, and artifacts whose config is not an image config. Everything here is parsing and
 * checking: a hostile or damaged manifest is a typed error, never a TypeError or a key built
 * from a bad digest.
 */
import { FormatError, NotAnImageError, UpgradeRequiredError } from './errors.js';

export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Layers dogestry push writes are described by their uncompressed tar; encoding is a storage detail (magic bytes). */
export const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** Media types of a manifest the registry stores, and whether it is an index of manifests. */
export const MANIFEST_TYPES: Readonly<Record<string, 'manifest' | 'index'>> = {
  [MEDIA_MANIFEST]: 'manifest',
  [DOCKER_MANIFEST]: 'manifest',
  [MEDIA_INDEX]: 'index',
  [DOCKER_LIST]: 'index',
};

const IMAGE_CONFIGS = new Set([MEDIA_CONFIG, DOCKER_CONFIG]);
/** Whether a config descriptor is an image's (so the manifest is an image an engine can load), not an artifact's. */
export const isImageConfig = (config: { mediaType?: string }): boolean => IMAGE_CONFIGS.has(config.mediaType ?? '');

/**
 * How a layer blob's content is encoded, from its descriptor's media type. `none`: the blob
 * is the tar, so its digest is the diffID; `gzip`/`zstd`: the blob is the compressed tar, named
 * by the compressed digest, and the diffID comes from the config.
 */
export type LayerEncoding = 'none' | 'gzip' | 'zstd';
const LAYER_ENCODINGS: Readonly<Record<string, LayerEncoding>> = {
  [MEDIA_LAYER]: 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  /** The blob's content size: for a layer of encoding `none`, the tar's; for gzip or zstd, the compressed size. */
  readonly size: number;
}

export interface LayerDescriptor extends Descriptor {
  readonly encoding: LayerEncoding;
}

/** An image manifest: dogestry's own (layers named by diffID) or one a registry client pushed. */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly LayerDescriptor[];
}

/** Any manifest the registry face stores: what it references, for serving, gc and verify. */
export interface StoredManifest {
  /** As declared in the manifest, or inferred from its fields where it declares none. */
  readonly mediaType: string;
  readonly kind: 'manifest' | 'index';
  readonly config?: Descriptor;
  readonly layers: readonly Descriptor[];
  /** An index's manifests. */
  readonly manifests: readonly (Descriptor & { readonly platform?: { readonly os?: string; readonly architecture?: string } })[];
  /** The manifest this one refers to (a signature, an SBOM): listed by the referrers API. */
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function buildManifest(
  config: { digest: string; size: number },
  layers: readonly { digest: string; size: number }[],
): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    config: { mediaType: MEDIA_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MEDIA_LAYER, digest: l.digest, size: l.size, encoding: 'none' })),
  };
}

/** Canonical bytes of a manifest dogestry built: the same image always gives the same manifest digest. */
export function serializeManifest(manifest: ImageManifest): Buffer {
  const { schemaVersion, mediaType, config, layers } = manifest;
  return Buffer.from(
    JSON.stringify({
      schemaVersion,
      mediaType,
      config,
      layers: layers.map(({ mediaType: type, digest, size }) => ({ mediaType: type, digest, size })),
    }),
  );
}

/** Sizes past this are no layer's: a manifest claiming them is corrupt, not big. */
const MAX_LAYER_SIZE = 2 ** 40;
const MAX_LAYERS = 4096;
const MAX_CONFIG_SIZE = 64 * 1024 * 1024;
/** The largest manifest the registry takes (distribution's limit too). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/**
 * Parse any stored manifest: an image manifest or index (OCI or Docker schema 2), artifacts
 * included. `declared`: the media type a client sent with it, used where the manifest itself
 * names none and checked where it names one.
 */
export function parseStoredManifest(bytes: Buffer, key: string, declared?: string): StoredManifest {
  const m = parseJsonObject(bytes, key);
  // Unset (absent, or a Go client's zero value) is tolerated: the spec's own conformance suite
  // pushes referrers so. Any other value is another format.
  if (m.schemaVersion !== 2 && m.schemaVersion !== undefined && m.schemaVersion !== 0) {
    throw new FormatError(`${key} is not an OCI or Docker schema 2 manifest (schemaVersion is not 2)`);
  }
  const own = m.mediaType;
  if (own !== undefined && typeof own !== 'string') throw new FormatError(`${key} has a malformed mediaType`);
  if (own !== undefined && declared !== undefined && own !== declared) {
    throw new FormatError(`${key} says it is a ${own} but was sent as ${declared}`);
  }
  const inferred = Array.isArray(m.manifests) ? MEDIA_INDEX : MEDIA_MANIFEST;
  const mediaType = own ?? declared ?? inferred;
  const kind = MANIFEST_TYPES[mediaType];
  if (!kind)
    throw new FormatError(`${key} is a ${JSON.stringify(mediaType).slice(0, 100)}, which is not a manifest type this registry stores`);
  // A subject is only pointed at, and clients (the spec's own conformance suite) leave its media type out.
  const subject = m.subject === undefined ? undefined : descriptorOf(m.subject, `${key} subject`, MAX_LAYER_SIZE, true);
  const artifactType = typeof m.artifactType === 'string' ? m.artifactType : undefined;
  const annotations = isStringMap(m.annotations) ? m.annotations : undefined;
  const common = {
    mediaType,
    kind,
    ...(subject ? { subject } : {}),
    ...(artifactType ? { artifactType } : {}),
    ...(annotations ? { annotations } : {}),
  };
  if (kind === 'index') {
    if (!Array.isArray(m.manifests) || m.manifests.length > MAX_LAYERS) throw new FormatError(`${key} has no valid manifests list`);
    const manifests = m.manifests.map((d: unknown, i: number) => {
      const descriptor = descriptorOf(d, `${key} manifest ${i}`, MAX_MANIFEST_SIZE);
      const platform = (d as { platform?: unknown }).platform;
      if (typeof platform !== 'object' || platform === null) return descriptor;
      const { os, architecture } = platform as { os?: unknown; architecture?: unknown };
      return {
        ...descriptor,
        platform: { ...(typeof os === 'string' ? { os } : {}), ...(typeof architecture === 'string' ? { architecture } : {}) },
      };
    });
    return { ...common, layers: [], manifests };
  }
  if (!Array.isArray(m.layers) || m.layers.length > MAX_LAYERS) throw new FormatError(`${key} has no valid layers list`);
  const config = descriptorOf(m.config, `${key} config`, MAX_CONFIG_SIZE);
  const layers = m.layers.map((d: unknown, i: number) => descriptorOf(d, `${key} layer ${i}`, MAX_LAYER_SIZE));
  return { ...common, config, layers, manifests: [] };
}

/** The digests (hex) a stored manifest needs present: config and layers, or an index's manifests. Never its subject. */
export function referencedBlobs(manifest: StoredManifest): { blobs: string[]; manifests: string[] } {
  const hex = (d: Descriptor) => d.digest.slice('sha256:'.length);
  return {
    blobs: [...(manifest.config ? [hex(manifest.config)] : []), ...manifest.layers.map(hex)],
    manifests: manifest.manifests.map(hex),
  };
}

/**
 * Parse and fully validate an image manifest, for pull, verify and the catalog: an index or
 * an artifact is refused (`NOT_AN_IMAGE`), a layer encoding this version does not know is
 * `UPGRADE_REQUIRED`, never a digest mismatch.
 */
export function parseManifest(bytes: Buffer, key: string): ImageManifest {
  const stored = parseStoredManifest(bytes, key);
  if (stored.kind === 'index') {
    // readImage picks an index's manifest for the platform; here an index is where an image was expected.
    throw new NotAnImageError(`${key} is an image index (${stored.mediaType}), not one image`);
  }
  const config = stored.config as Descriptor;
  if (!isImageConfig(config)) {
    throw new NotAnImageError(
      `${key} is an OCI artifact (${stored.artifactType ?? config.mediaType}), not a container image: there is nothing to load into an engine`,
    );
  }
  const layers = stored.layers.map((layer, i) => {
    const encoding = LAYER_ENCODINGS[layer.mediaType];
    if (!encoding) {
      throw new UpgradeRequiredError(
        `${key} layer ${i} is stored as ${JSON.stringify(layer.mediaType)}, which this dogestry cannot read: upgrade dogestry`,
      );
    }
    return { ...layer, encoding };
  });
  return { schemaVersion: 2, mediaType: stored.mediaType, config, layers };
}

function descriptorOf(value: unknown, what: string, maxSize: number, typeOptional = false): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new FormatError(`${what} is not a descriptor`);
  if (typeof d.mediaType !== 'string' && !(typeOptional && d.mediaType === undefined)) throw new FormatError(`${what} has no media type`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0 || d.size > maxSize) {
    throw new FormatError(`${what} has an impossible size ${JSON.stringify(d.size)}`);
  }
  if (typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest)) {
    throw new FormatError(`${what} has a malformed or non-sha256 digest ${JSON.stringify(d.digest)?.slice(0, 100)}`);
  }
  return { mediaType: d.mediaType ?? '', digest: d.digest, size: d.size };
}

export function parseJsonObject(bytes: Buffer, key: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new FormatError(`${key} is not JSON`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FormatError(`${key} is not a JSON object`);
  return value as Record<string, unknown>;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/**
 * Check an image config against its manifest: JSON, with one `rootfs.diff_ids` entry per
 * layer, equal to the layer's digest where the layer is an uncompressed tar (what an engine's
 * load checks, found here instead). Answers the diffIDs, in layer order.
 */
export function checkConfig(bytes: Buffer, key: string, manifest: ImageManifest): string[] {
  const config = parseJsonObject(bytes, key);
  const rootfs = config.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  const diffIds = rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new FormatError(`${key} has no valid rootfs.diff_ids`);
  }
  const { layers } = manifest;
  if (diffIds.length !== layers.length || layers.some((l, i) => l.encoding === 'none' && l.digest !== diffIds[i])) {
    throw new FormatError(`${key} lists layers (rootfs.diff_ids) that disagree with its manifest`);
  }
  return diffIds as string[];
}
