import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable as NodeReadable, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { type Compression, decode, encoderFor } from './compression.js';
import type { DockerEngine } from './docker/engine.js';
import { type LayerIdentity, parseSave } from './docker/save-parser.js';
import { type EngineSelection, selectEngine } from './engine-resolution.js';
import { InvalidReferenceError, NotFoundError } from './errors.js';
import {
  assertWritable,
  blobKey,
  buildManifest,
  checkMarker,
  ensureMarker,
  imageKey,
  pointerBody,
  readPointer,
  serializeManifest,
  sha256Hex,
  TMP_PREFIX,
  tagKey,
} from './format.js';
import { ByteCounter, Digester, verifyingStage } from './hashing.js';
import type { ProgressListener } from './progress.js';
import { progressStage } from './progress.js';
import { formatNameTag, hexOf, type NameTag, parseNameTag } from './reference.js';
import type { Remote } from './remote.js';
import { drain } from './streams.js';
import { type RemoteSelection, remoteOf } from './transports.js';
import { writeThrough } from './write-through.js';

export interface PushOptions extends EngineSelection, RemoteSelection {
  /** The image on the engine: `name:tag`, `name` (latest) or an image id. */
  readonly image: string;
  /** Name and tag on the remote; defaults to `image` (required when `image` is an id). */
  readonly as?: string;
  /** How layers are encoded at rest (default lz4). */
  readonly compression?: Compression;
  readonly onProgress?: ProgressListener;
  /** Where undecided legacy-layout layers are spooled (default: the OS temp dir). */
  readonly spoolDir?: string;
  /** Parallel uploads from the spool and parallel existence checks (default 4 and 16). */
  readonly concurrency?: number;
}

export interface PushedLayer {
  readonly diffId: string;
  readonly size: number;
  readonly result: 'uploaded' | 'present';
}

export interface PushResult {
  readonly remote: string;
  readonly image: string;
  readonly imageId: string;
  readonly manifestDigest: string;
  readonly layers: readonly PushedLayer[];
  /** Bytes stored on the remote by this push (encoded layer bytes plus metadata). */
  readonly bytesWritten: number;
  /** Whether the tag was written (false when it already pointed at this image). */
  readonly tagUpdated: boolean;
}

/**
 * Push one image from the engine to a remote.
 *
 * Publish order (so that a crash at any point leaves no tag pointing at an incomplete
 * image, only unreferenced blobs that the next push reuses and gc reclaims):
 * 1. the format marker (create-only); 2. missing layer blobs, each verified against its
 * diffID while streaming and written create-only; 3. the config blob; 4. the manifest blob;
 * 5. the image pointer `images/sha256/<id>`; 6. the tag, last, and only if it changes.
 *
 * The engine's save is read once. Layers the remote has are skipped without being stored
 * anywhere. With the legacy layout (Docker <= 24), a layer's diffID is only known after its
 * bytes are hashed: when every layer not yet seen is missing on the remote, it streams to a
 * temporary key and is moved into place once hashed; otherwise it is spooled to a local
 * file while hashed and uploaded from there only if the remote lacks it.
 */
export async function push(options: PushOptions): Promise<PushResult> {
  if (options.as === undefined && /^(sha256:)?[0-9a-f]{64}$/.test(options.image)) {
    throw new InvalidReferenceError(`${options.image} is an image id, which has no name to push under: give one with --as name:tag`);
  }
  const target = parseNameTag(options.as ?? options.image);
  const engine = selectEngine(options);
  const remote = await remoteOf(options);
  assertWritable(remote);
  await checkMarker(remote);
  return new ImagePush(remote, engine, target, options).run();
}

class ImagePush {
  private readonly emit: ProgressListener | undefined;
  private readonly compression: Compression;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly missing = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly claimed = new Set<string>();
  private readonly uploads: Promise<void>[] = [];
  private bytesWritten = 0;
  private spoolDir: string | undefined;

  constructor(
    private readonly remote: Remote,
    private readonly engine: DockerEngine,
    private readonly target: NameTag,
    private readonly options: PushOptions,
  ) {
    this.emit = options.onProgress;
    this.compression = options.compression ?? 'lz4';
    this.limit = pLimit(options.concurrency ?? 4);
  }

  async run(): Promise<PushResult> {
    const { remote, engine } = this;
    const image = await engine.inspectImage(this.options.image);
    if (!image) {
      throw new NotFoundError(`image ${this.options.image} is not on the engine at ${engine.endpoint}: check \`docker images\` there`);
    }
    const unique = [...new Set(image.diffIds)];
    const statLimit = pLimit(16);
    const presence = await Promise.all(unique.map((d) => statLimit(async () => [d, await remote.stat(blobKey(hexOf(d)))] as const)));
    for (const [diffId, stat] of presence) if (!stat) this.missing.add(diffId);
    this.emit?.({ type: 'plan', operation: 'push', image: formatNameTag(this.target), layers: unique.length, missing: this.missing.size });

    let imageHex = hexOf(image.id);
    let manifestHex = await this.existingManifest(imageHex);
    let sizes: ReadonlyMap<string, number> | undefined;
    if (manifestHex === undefined) {
      await ensureMarker(remote);
      const saved = await this.saveAndUpload(image.id, image.diffIds);
      sizes = saved.layers;
      imageHex = sha256Hex(saved.config);
      await this.publish(blobKey(imageHex), saved.config);
      const manifest = serializeManifest(
        buildManifest(
          { digest: `sha256:${imageHex}`, size: saved.config.length },
          image.diffIds.map((d) => ({ digest: d, size: saved.layers.get(d) ?? 0 })),
        ),
      );
      manifestHex = sha256Hex(manifest);
      await this.publish(blobKey(manifestHex), manifest);
      await this.publish(imageKey(imageHex), pointerBody(manifestHex));
    }
    for (const d of unique) if (!this.missing.has(d)) this.emit?.({ type: 'layer-done', diffId: d, bytes: 0, result: 'present' });

    const key = tagKey(this.target);
    const current = await readPointer(remote, key).catch(() => undefined);
    const tagUpdated = current !== manifestHex;
    if (tagUpdated) await this.publish(key, pointerBody(manifestHex), false);
    else this.emit?.({ type: 'publish', key, result: 'unchanged' });

    return {
      remote: remote.url,
      image: formatNameTag(this.target),
      imageId: `sha256:${imageHex}`,
      manifestDigest: `sha256:${manifestHex}`,
      layers: image.diffIds.map((d) => ({ diffId: d, size: sizes?.get(d) ?? 0, result: this.missing.has(d) ? 'uploaded' : 'present' })),
      bytesWritten: this.bytesWritten,
      tagUpdated,
    };
  }

  /** The manifest digest if the remote already holds this image completely. */
  private async existingManifest(imageHex: string): Promise<string | undefined> {
    if (this.missing.size > 0) return undefined;
    const manifestHex = await readPointer(this.remote, imageKey(imageHex)).catch(() => undefined);
    if (!manifestHex) return undefined;
    const [manifest, config] = await Promise.all([this.remote.stat(blobKey(manifestHex)), this.remote.stat(blobKey(imageHex))]);
    return manifest && config ? manifestHex : undefined;
  }

  private async saveAndUpload(imageId: string, diffIds: readonly string[]) {
    try {
      const save = await this.engine.save(imageId);
      const result = await parseSave(
        save,
        { imageId, diffIds },
        {
          knownLayer: (diffId, size, stream) => this.knownLayer(diffId, size, stream),
          unknownLayer: (_size, stream) => this.unknownLayer(stream),
        },
      );
      await Promise.all(this.uploads);
      return result;
    } finally {
      await Promise.allSettled(this.uploads);
      if (this.spoolDir) await rm(this.spoolDir, { recursive: true, force: true });
    }
  }

  private async knownLayer(diffId: string, size: number, stream: Readable): Promise<void> {
    this.seen.add(diffId);
    if (!this.missing.has(diffId) || this.claimed.has(diffId)) {
      await drain(stream);
      return;
    }
    this.claimed.add(diffId);
    const key = blobKey(hexOf(diffId));
    this.emit?.({ type: 'layer-start', diffId, size });
    const stored = new ByteCounter();
    await writeThrough(
      this.remote,
      key,
      stream,
      [verifyingStage(key, hexOf(diffId)), progressStage(this.emit, diffId, size), encoderFor(this.compression), stored.stage],
      { createOnly: true },
    );
    this.layerUploaded(diffId, stored.bytes);
  }

  private async unknownLayer(stream: Readable): Promise<LayerIdentity> {
    const unseen = [...this.missing, ...this.present()].filter((d) => !this.seen.has(d));
    const unseenMissing = unseen.filter((d) => this.missing.has(d));
    const decoded = new Digester();
    let identity: LayerIdentity;
    if (unseenMissing.length === 0) {
      await pipeline(stream, decode, decoded.stage, sink());
      identity = { diffId: decoded.digest, size: decoded.bytes };
    } else if (unseenMissing.length === unseen.length) {
      identity = await this.streamToTemporaryKey(stream, decoded);
    } else {
      identity = await this.spool(stream, decoded);
    }
    this.seen.add(identity.diffId);
    return identity;
  }

  private present(): string[] {
    return [...this.seen].filter((d) => !this.missing.has(d));
  }

  /** Whatever comes next is needed: stream it to tmp/, then move it to its digest's key. */
  private async streamToTemporaryKey(stream: Readable, decoded: Digester): Promise<LayerIdentity> {
    const tmpKey = `${TMP_PREFIX}${randomUUID()}`;
    const stored = new ByteCounter();
    await writeThrough(this.remote, tmpKey, stream, [decode, decoded.stage, encoderFor(this.compression), stored.stage]);
    const diffId = decoded.digest;
    if (this.missing.has(diffId) && !this.claimed.has(diffId)) {
      this.claimed.add(diffId);
      await moveIntoPlace(this.remote, tmpKey, blobKey(hexOf(diffId)));
      this.layerUploaded(diffId, stored.bytes);
    } else {
      await this.remote.delete([tmpKey]);
    }
    return { diffId, size: decoded.bytes };
  }

  /** Unknown whether needed: hash while spooling to disk, upload from the spool only if missing. */
  private async spool(stream: Readable, decoded: Digester): Promise<LayerIdentity> {
    this.spoolDir ??= await mkdtemp(join(this.options.spoolDir ?? tmpdir(), 'dogestry-spool-'));
    const path = join(this.spoolDir, randomUUID());
    await pipeline(stream, decode, decoded.stage, createWriteStream(path, { highWaterMark: 1024 * 1024 }));
    const diffId = decoded.digest;
    const size = decoded.bytes;
    if (!this.missing.has(diffId) || this.claimed.has(diffId)) {
      await rm(path, { force: true });
      return { diffId, size };
    }
    this.claimed.add(diffId);
    this.uploads.push(
      this.limit(async () => {
        const key = blobKey(hexOf(diffId));
        this.emit?.({ type: 'layer-start', diffId, size });
        const stored = new ByteCounter();
        try {
          await writeThrough(
            this.remote,
            key,
            createReadStream(path, { highWaterMark: 1024 * 1024 }),
            [progressStage(this.emit, diffId, size), encoderFor(this.compression), stored.stage],
            { createOnly: true },
          );
        } finally {
          await rm(path, { force: true });
        }
        this.layerUploaded(diffId, stored.bytes);
      }),
    );
    return { diffId, size };
  }

  private layerUploaded(diffId: string, storedBytes: number): void {
    this.bytesWritten += storedBytes;
    this.emit?.({ type: 'layer-done', diffId, bytes: storedBytes, result: 'uploaded' });
  }

  private async publish(key: string, bytes: Buffer, createOnly = true): Promise<void> {
    const result = await this.remote.write(key, NodeReadable.from([bytes]), { createOnly, size: bytes.length });
    if (result === 'written') this.bytesWritten += bytes.length;
    this.emit?.({ type: 'publish', key, result });
  }
}

/** Rename where the transport can; otherwise copy through this process and delete. */
export async function moveIntoPlace(remote: Remote, from: string, to: string): Promise<'written' | 'exists'> {
  if (remote.move) return remote.move(from, to, { createOnly: true });
  const body = await remote.read(from);
  if (!body) throw new NotFoundError(`${from} vanished before it could be moved to ${to}`);
  const result = await remote.write(to, body, { createOnly: true });
  await remote.delete([from]);
  return result;
}

function sink(): Writable {
  return new Writable({
    write(_chunk, _enc, callback) {
      callback();
    },
  });
}
