import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { decode } from '../compression.js';
import { EngineError } from '../errors.js';
import { drain, readAll } from '../streams.js';

/** Which save layout a tar turned out to be. */
export type SaveLayout = 'docker-legacy' | 'oci' | 'podman';

/** What the caller learns about a layer it was handed. */
export interface LayerIdentity {
  readonly diffId: string;
  /** Uncompressed size in bytes. */
  readonly size: number;
}

/**
 * How push consumes a save stream. Each handler must read `stream` to its end (or fail):
 * the tar is one sequential stream and the next entry comes only after this one is read.
 */
export interface SaveHandlers {
  /** An uncompressed layer whose diffID is known from its name (OCI blobs, Podman `<diffid>.tar`). */
  knownLayer(diffId: string, size: number, stream: Readable): Promise<void>;
  /**
   * A layer whose diffID is not known until its bytes are hashed (legacy `<v1id>/layer.tar`,
   * compressed OCI blobs). The handler decodes, hashes and answers what it was.
   */
  unknownLayer(storedSize: number, stream: Readable): Promise<LayerIdentity>;
}

export interface SaveResult {
  readonly layout: SaveLayout;
  /** The image config exactly as the save holds it; its sha256 is the image ID. */
  readonly config: Buffer;
  /** Every layer seen, by diffID. */
  readonly layers: ReadonlyMap<string, number>;
}

export interface SaveExpectation {
  /** From the engine's inspect: the diffIDs the image has. */
  readonly diffIds: readonly string[];
  /** From the engine's inspect: `sha256:<hex>`. */
  readonly imageId: string;
}

const SMALL = 4 * 1024 * 1024;
const HEX = '([0-9a-f]{64})';
const OCI_BLOB = new RegExp(`^blobs/sha256/${HEX}$`);
const PODMAN_LAYER = new RegExp(`^${HEX}\\.tar$`);
const ROOT_JSON = new RegExp(`^${HEX}\\.json$`);

/**
 * Read a `docker save` (Docker <= 24 legacy, Docker >= 25 OCI, Podman) in one pass and hand
 * every layer to `handlers` as it streams by; small metadata entries are kept in memory to
 * find the config. Nothing is spooled here.
 */
export async function parseSave(save: Readable, expected: SaveExpectation, handlers: SaveHandlers): Promise<SaveResult> {
  const wanted = new Set(expected.diffIds);
  const imageHex = expected.imageId.replace(/^sha256:/, '');
  const layers = new Map<string, number>();
  const small = new Map<string, Buffer>();
  let layout: SaveLayout | undefined;
  let config: Buffer | undefined;

  const extract = tar.extract();
  const consume = (async () => {
    for await (const tarEntry of extract) {
      const { name: rawName, type, size = 0 } = tarEntry.header;
      // tar-stream entries are streamx streams; hand handlers a Node stream.
      const entry = Readable.from(tarEntry, { objectMode: false });
      const name = rawName.replace(/^\.\//, '');
      if (type !== 'file' && type !== 'contiguous-file') {
        // Directories, and symlinks/hardlinks for layers repeated in a save: the target is a file entry.
        await drain(entry);
        continue;
      }
      const oci = OCI_BLOB.exec(name);
      const podman = PODMAN_LAYER.exec(name);
      const knownHex = oci?.[1] ?? podman?.[1];
      if (knownHex && wanted.has(`sha256:${knownHex}`)) {
        layout ??= oci ? 'oci' : 'podman';
        const diffId = `sha256:${knownHex}`;
        layers.set(diffId, size);
        await handlers.knownLayer(diffId, size, entry);
      } else if ((oci || podman) && knownHex === imageHex) {
        config = await readAll(entry, SMALL);
      } else if (name.endsWith('/layer.tar') || ((oci || podman) && size > SMALL)) {
        if (name.endsWith('/layer.tar')) layout ??= 'docker-legacy';
        else layout ??= oci ? 'oci' : 'podman';
        const identity = await handlers.unknownLayer(size, entry);
        if (wanted.has(identity.diffId)) layers.set(identity.diffId, identity.size);
      } else if (size <= SMALL && (oci || ROOT_JSON.test(name) || name === 'manifest.json' || name === 'index.json')) {
        const bytes = await readAll(entry, SMALL);
        if (ROOT_JSON.exec(name)?.[1] === imageHex) config = bytes;
        else if (oci) await smallBlob(bytes);
        small.set(name, bytes);
      } else {
        await drain(entry);
      }
    }
  })();

  /** A small OCI blob may be a compressed layer, a manifest or a config: hash it decoded to tell. */
  async function smallBlob(bytes: Buffer): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of decode(Readable.from([bytes]))) parts.push(part);
    const decoded = Buffer.concat(parts);
    const diffId = `sha256:${createHash('sha256').update(decoded).digest('hex')}`;
    if (wanted.has(diffId) && !layers.has(diffId)) {
      layout ??= 'oci';
      layers.set(diffId, decoded.length);
      await handlers.knownLayer(diffId, decoded.length, Readable.from([decoded]));
    }
  }

  const feed = (async () => {
    for await (const chunk of save) {
      if (!extract.write(chunk)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
    }
    (extract as unknown as { end(): void }).end();
  })();
  try {
    await Promise.all([feed, consume]);
  } catch (error) {
    extract.destroy(error as Error);
    save.destroy();
    throw error;
  }

  config ??= configFromIndex(small) ?? configFromLegacyManifest(small);
  if (!config) throw new EngineError(`the engine's save of ${expected.imageId} holds no image config`);
  const missing = [...wanted].filter((d) => !layers.has(d));
  if (missing.length > 0) {
    throw new EngineError(`the engine's save of ${expected.imageId} lacks layer(s) ${missing.join(', ')}`);
  }
  return { layout: layout ?? 'docker-legacy', config, layers };
}

function configFromLegacyManifest(small: ReadonlyMap<string, Buffer>): Buffer | undefined {
  const manifest = small.get('manifest.json');
  if (!manifest) return undefined;
  const entries = JSON.parse(manifest.toString('utf8')) as { Config?: string }[];
  const path = entries[0]?.Config;
  return path ? small.get(path) : undefined;
}

/** OCI layout: index.json -> manifest -> config descriptor. */
function configFromIndex(small: ReadonlyMap<string, Buffer>): Buffer | undefined {
  const index = small.get('index.json');
  if (!index) return undefined;
  const blob = (digest: string | undefined): Buffer | undefined =>
    digest ? small.get(`blobs/sha256/${digest.replace(/^sha256:/, '')}`) : undefined;
  const parsed = JSON.parse(index.toString('utf8')) as { manifests?: { digest?: string }[] };
  const manifest = blob(parsed.manifests?.[0]?.digest);
  if (!manifest) return undefined;
  const m = JSON.parse(manifest.toString('utf8')) as { config?: { digest?: string }; manifests?: { digest?: string }[] };
  if (m.config) return blob(m.config.digest);
  // A nested index (Docker >= 25 may write one per platform).
  const inner = blob(m.manifests?.[0]?.digest);
  if (!inner) return undefined;
  return blob((JSON.parse(inner.toString('utf8')) as { config?: { digest?: string } }).config?.digest);
}
