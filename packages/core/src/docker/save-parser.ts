import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createDecoder, decode } from '../compression.js';
import { DogestryError, EngineError, FormatError } from '../errors.js';
import { type EntrySink, readTar } from './tar-reader.js';

export type { EntrySink } from './tar-reader.js';

/** Which save layout a tar turned out to be. */
export type SaveLayout = 'docker-legacy' | 'oci' | 'podman';

/** What the caller learns about a layer it was handed. */
export interface LayerIdentity {
  readonly diffId: string;
  /** Uncompressed size in bytes. */
  readonly size: number;
}

/**
 * How push consumes a save. The tar is one sequential stream: the next entry comes only after
 * the current sink's `end()` resolves, so a sink that waits holds the whole save back.
 */
export interface SaveHandlers {
  /**
   * An uncompressed layer whose diffID is known from its name (OCI blobs, Podman
   * `<diffid>.tar`): a sink for its bytes, or `undefined` to skip them.
   */
  knownLayer(diffId: string, size: number): EntrySink<unknown> | undefined;
  /**
   * A layer whose diffID is not known until its bytes are hashed (legacy `<v1id>/layer.tar`,
   * compressed OCI blobs). The sink gets the uncompressed bytes (the parser decodes) and its
   * `end()` answers what the layer was.
   */
  unknownLayer(storedSize: number): EntrySink<LayerIdentity>;
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
export async function parseSave(save: AsyncIterable<Buffer>, expected: SaveExpectation, handlers: SaveHandlers): Promise<SaveResult> {
  const wanted = new Set(expected.diffIds);
  const imageHex = expected.imageId.replace(/^sha256:/, '');
  const layers = new Map<string, number>();
  const small = new Map<string, Buffer>();
  let layout: SaveLayout | undefined;
  let config: Buffer | undefined;

  /** A small OCI blob may be a compressed layer, a manifest or a config: hash it decoded to tell. */
  async function smallBlob(bytes: Buffer): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of decode(Readable.from([bytes]))) parts.push(part);
    const decoded = Buffer.concat(parts);
    const diffId = `sha256:${createHash('sha256').update(decoded).digest('hex')}`;
    if (wanted.has(diffId) && !layers.has(diffId)) {
      layout ??= 'oci';
      layers.set(diffId, decoded.length);
      const sink = handlers.knownLayer(diffId, decoded.length);
      if (sink) {
        await sink.write(decoded);
        await sink.end();
      }
    }
  }

  try {
    await readTar(save, ({ name: rawName, type, size }) => {
      if (type !== 'file') return undefined; // directories; links for layers repeated in a save point at a file entry
      const name = rawName.replace(/^\.\//, '');
      const oci = OCI_BLOB.exec(name);
      const podman = PODMAN_LAYER.exec(name);
      const knownHex = oci?.[1] ?? podman?.[1];
      if (knownHex && wanted.has(`sha256:${knownHex}`)) {
        layout ??= oci ? 'oci' : 'podman';
        const diffId = `sha256:${knownHex}`;
        layers.set(diffId, size);
        return handlers.knownLayer(diffId, size);
      }
      if ((oci || podman) && knownHex === imageHex && size <= SMALL) {
        // The config, named by the image ID, except in the containerd image store, whose image
        // ID is its manifest's (or index's) digest: keep it as a candidate, checked below.
        return collect((bytes) => {
          config = bytes;
          small.set(name, bytes);
        });
      }
      if (name.endsWith('/layer.tar') || ((oci || podman) && size > SMALL)) {
        layout ??= name.endsWith('/layer.tar') ? 'docker-legacy' : oci ? 'oci' : 'podman';
        return afterEnd(decodingSink(handlers.unknownLayer(size)), (identity) => {
          if (wanted.has(identity.diffId)) layers.set(identity.diffId, identity.size);
        });
      }
      if (size <= SMALL && (oci || ROOT_JSON.test(name) || name === 'manifest.json' || name === 'index.json')) {
        return collect(async (bytes) => {
          if (ROOT_JSON.exec(name)?.[1] === imageHex) config = bytes;
          else if (oci) await smallBlob(bytes);
          small.set(name, bytes);
        });
      }
      return undefined;
    });
  } catch (error) {
    if (save instanceof Readable) save.destroy();
    if (error instanceof FormatError) throw new EngineError(`the engine's save of ${expected.imageId} is unreadable: ${error.message}`);
    if (isConnectionCut(error)) {
      throw new EngineError(
        `the engine stopped sending the save of ${expected.imageId} (${(error as Error).message}): is it still running? Nothing was tagged`,
        { cause: error, retryable: true },
      );
    }
    throw error;
  }

  config = chooseConfig([configFromLegacyManifest(small), configFromIndex(small), config], expected);
  const missing = [...wanted].filter((d) => !layers.has(d));
  if (missing.length > 0) {
    throw new EngineError(`the engine's save of ${expected.imageId} lacks layer(s) ${missing.join(', ')}`);
  }
  return { layout: layout ?? 'docker-legacy', config, layers };
}

/** A sink that keeps a small entry in memory and hands it to `done` at its end. */
function collect(done: (bytes: Buffer) => void | Promise<void>): EntrySink {
  const parts: Buffer[] = [];
  let length = 0;
  return {
    write(chunk) {
      length += chunk.length;
      if (length > SMALL) throw new FormatError(`metadata entry larger than ${SMALL} bytes`);
      parts.push(chunk);
      return undefined;
    },
    end: async () => done(Buffer.concat(parts)),
    abort() {},
  };
}

function afterEnd<T>(sink: EntrySink<T>, then: (value: T) => void): EntrySink<T> {
  return {
    write: (chunk) => sink.write(chunk),
    end: async () => {
      const value = await sink.end();
      then(value);
      return value;
    },
    abort: (error) => sink.abort(error),
  };
}

/**
 * Pass an entry's bytes to `inner` as they are when they are a plain tar (always, in engine
 * saves), or decoded when the first bytes show gzip or lz4 (OCI archives made by skopeo).
 */
function decodingSink<T>(inner: EntrySink<T>): EntrySink<T> {
  const decoder = createDecoder((chunk) => inner.write(chunk));
  return {
    write: (chunk) => decoder.write(chunk),
    end: async () => {
      await decoder.end();
      return inner.end();
    },
    abort: (error) => inner.abort(error),
  };
}

/** The first candidate that is a config describing the image's layers. */
function chooseConfig(candidates: readonly (Buffer | undefined)[], expected: SaveExpectation): Buffer {
  const present = candidates.filter((c): c is Buffer => c !== undefined);
  if (present.length === 0) throw new EngineError(`the engine's save of ${expected.imageId} holds no image config`);
  for (const candidate of present) {
    let diffIds: unknown;
    try {
      diffIds = (JSON.parse(candidate.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    } catch {
      continue;
    }
    if (Array.isArray(diffIds) && diffIds.length === expected.diffIds.length && diffIds.every((d, i) => d === expected.diffIds[i])) {
      return candidate;
    }
  }
  throw new EngineError(
    `the engine's save of ${expected.imageId} holds no config whose layers are the image's (${expected.diffIds.length} layers)`,
  );
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

/** The engine's connection died mid-save (the engine was killed or restarted). */
function isConnectionCut(error: unknown): boolean {
  if (error instanceof DogestryError) return false;
  const e = error as NodeJS.ErrnoException;
  return e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.message === 'aborted';
}
