import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable as NodeReadable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { storedLayerLooksBroken } from './blob-health.js';
import type { Compression } from './compression.js';
import type { DockerEngine, EngineImage } from './docker/engine.js';
import { type EntrySink, type LayerIdentity, parseSave } from './docker/save-parser.js';
import { type EngineSelection, selectEngine } from './engine-resolution.js';
import {
  DigestMismatchError,
  EngineError,
  FormatError,
  InvalidReferenceError,
  LegacyFormatError,
  NotFoundError,
  TransportError,
} from './errors.js';
import {
  assertWritable,
  blobKey,
  buildManifest,
  checkMarker,
  ensureMarker,
  imageKey,
  parseManifest,
  pointerBody,
  readPointer,
  readSmallBlob,
  serializeManifest,
  sha256Hex,
  tagKey,
  WRITER_FEATURES,
} from './format.js';
import { encodeStream, LayerEncoder } from './layer-encoder.js';
import { WriterLease } from './lease.js';
import type { ProgressListener } from './progress.js';
import { formatNameTag, hexOf, type NameTag, parseNameTag } from './reference.js';
import type { Remote } from './remote.js';
import { abortedBy, type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

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
  /** How long this push's lease protects its blobs from gc after its last renewal (default 60 s). */
  readonly leaseSeconds?: number;
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
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertWritable(remote);
  await checkMarker(remote, 'write');
  const key = tagKey(target);
  // Read before anything is written: a tag holding a bare id is dogestry 1.x's, never overwritten.
  const current = await readPointer(remote, key).catch((error: unknown) => {
    if (error instanceof FormatError && !(error instanceof LegacyFormatError)) return undefined; // a broken tag: replaced
    throw error;
  });
  throwIfAborted(options.signal);
  const image = await engine.inspectImage(options.image);
  if (!image) {
    throw new NotFoundError(`image ${options.image} is not on the engine at ${engine.endpoint}: check \`docker images\` there`);
  }
  await ensureMarker(remote, options.compression === 'zstd' ? [...WRITER_FEATURES, 'zstd'] : WRITER_FEATURES);
  const imageHex = hexOf(image.id);
  const lease = await WriterLease.take(remote, options.leaseSeconds, [...image.diffIds.map(hexOf), imageHex], [imageHex]);
  try {
    for (let attempt = 1; ; attempt++) {
      const staged = await new ImagePush(remote, engine, target, options, lease).run(image);
      const intact = await lease.settle(
        () => isComplete(remote, staged),
        (markers) => options.onProgress?.({ type: 'wait', reason: `gc is running on the remote (${markers.join(', ')})` }),
      );
      throwIfAborted(options.signal);
      if (intact) return await publishTag(remote, key, current, staged, options.onProgress);
      if (attempt === 3) {
        throw new TransportError(
          `a gc running on ${remote.url} removed blobs this push needs three times over: run the push again when gc is done`,
          { retryable: true },
        );
      }
    }
  } finally {
    await lease.release();
  }
}

/** What a push staged: everything but the tag. */
type StagedPush = Omit<PushResult, 'tagUpdated'>;

/** Whether every blob and the image pointer a staged push's tag needs is on the remote. */
async function isComplete(remote: Remote, staged: StagedPush): Promise<boolean> {
  const configHex = hexOf(staged.imageId);
  const keys = [
    ...new Set(staged.layers.map((l) => blobKey(hexOf(l.diffId)))),
    blobKey(configHex),
    blobKey(hexOf(staged.manifestDigest)),
    imageKey(configHex),
  ];
  const limit = pLimit(16);
  const found = await Promise.all(keys.map((k) => limit(() => remote.stat(k))));
  return found.every((s) => s !== undefined);
}

async function publishTag(
  remote: Remote,
  key: string,
  current: string | undefined,
  staged: StagedPush,
  emit: ProgressListener | undefined,
): Promise<PushResult> {
  const manifestHex = hexOf(staged.manifestDigest);
  const tagUpdated = current !== manifestHex;
  if (!tagUpdated) emit?.({ type: 'publish', key, result: 'unchanged' });
  const written = tagUpdated ? await publishKey(remote, key, pointerBody(manifestHex), false, emit) : 0;
  return { ...staged, bytesWritten: staged.bytesWritten + written, tagUpdated };
}

/** Write one small key (a blob, pointer or tag); answers the bytes it stored (0 when it was there). */
async function publishKey(
  remote: Remote,
  key: string,
  bytes: Buffer,
  createOnly: boolean,
  emit: ProgressListener | undefined,
): Promise<number> {
  const result = await remote.write(key, NodeReadable.from([bytes]), { createOnly, size: bytes.length });
  emit?.({ type: 'publish', key, result });
  return result === 'written' ? bytes.length : 0;
}

/** Layers whose bytes are all handed to the transport but whose write or move is still finishing. */
const MAX_FINISHING = 2;

class ImagePush {
  private readonly emit: ProgressListener | undefined;
  private readonly compression: Compression;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly missing = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly claimed = new Set<string>();
  /** Every distinct layer of the image. */
  private layersOfImage: readonly string[] = [];
  private readonly finishing = new Set<Promise<void>>();
  /** Missing layers another pusher wrote first (our create-only write answered 'exists'). */
  private readonly racedPresent = new Set<string>();
  /** The first layer whose write or move failed after its bytes were handed over. */
  private finishFailure: Error | undefined;
  private readonly uploads: Promise<void>[] = [];
  private bytesWritten = 0;
  /** Made by the first spool; removed when the save is done. */
  private spoolDir: Promise<string> | undefined;

  constructor(
    private readonly remote: Remote,
    private readonly engine: DockerEngine,
    private readonly target: NameTag,
    private readonly options: PushOptions,
    private readonly lease: WriterLease,
  ) {
    this.emit = options.onProgress;
    this.compression = options.compression ?? 'lz4';
    this.limit = pLimit(options.concurrency ?? 4);
  }

  /** Everything but the tag: layers, config, manifest and image pointer, each protected by the lease first. */
  async run(image: EngineImage): Promise<StagedPush> {
    const { remote, lease } = this;
    const unique = [...new Set(image.diffIds)];
    this.layersOfImage = unique;
    // The lease already names every layer, the config and the image pointer (push took it so).
    let imageHex = hexOf(image.id);
    const statLimit = pLimit(16);
    const presence = await Promise.all(
      unique.map((d) =>
        statLimit(async () => {
          const key = blobKey(hexOf(d));
          const stat = await remote.stat(key);
          if (stat && (await storedLayerLooksBroken(remote, key, stat.size))) {
            // Cut short or otherwise impossible: delete it so it can be written again.
            this.emit?.({ type: 'repair', key, reason: 'the stored blob is incomplete' });
            await remote.delete([key]);
            return [d, undefined] as const;
          }
          return [d, stat] as const;
        }),
      ),
    );
    for (const [diffId, stat] of presence) if (!stat) this.missing.add(diffId);
    this.emit?.({ type: 'plan', operation: 'push', image: formatNameTag(this.target), layers: unique.length, missing: this.missing.size });

    const existing = await this.existingManifest(imageHex);
    let manifestHex = existing?.manifestHex;
    let sizes: ReadonlyMap<string, number> | undefined = existing?.sizes;
    if (manifestHex === undefined) {
      const saved = await this.saveAndUpload(image.id, image.diffIds);
      sizes = saved.layers;
      imageHex = sha256Hex(saved.config);
      await lease.protect([imageHex], [imageHex]);
      await this.publish(blobKey(imageHex), saved.config);
      const manifest = serializeManifest(
        buildManifest(
          { digest: `sha256:${imageHex}`, size: saved.config.length },
          image.diffIds.map((d) => ({ digest: d, size: saved.layers.get(d) ?? 0 })),
        ),
      );
      manifestHex = sha256Hex(manifest);
      await lease.protect([manifestHex]);
      await this.publish(blobKey(manifestHex), manifest);
      await this.publish(imageKey(imageHex), pointerBody(manifestHex));
    }
    for (const d of unique) if (!this.missing.has(d)) this.emit?.({ type: 'layer-done', diffId: d, bytes: 0, result: 'present' });

    return {
      remote: remote.url,
      image: formatNameTag(this.target),
      imageId: `sha256:${imageHex}`,
      manifestDigest: `sha256:${manifestHex}`,
      layers: image.diffIds.map((d) => ({
        diffId: d,
        size: sizes?.get(d) ?? 0,
        result: this.missing.has(d) && !this.racedPresent.has(d) ? 'uploaded' : 'present',
      })),
      bytesWritten: this.bytesWritten,
    };
  }

  /** The manifest digest (and the layer sizes it records) if the remote already holds this image completely. */
  private async existingManifest(imageHex: string): Promise<{ manifestHex: string; sizes: Map<string, number> } | undefined> {
    if (this.missing.size > 0) return undefined;
    const manifestHex = await readPointer(this.remote, imageKey(imageHex)).catch((error: unknown) => {
      if (error instanceof FormatError) return undefined;
      throw error;
    });
    if (!manifestHex) return undefined;
    await this.lease.protect([manifestHex]);
    const [manifest, config] = await Promise.all([
      readSmallBlob(this.remote, manifestHex).catch(async (error: unknown) => {
        if (error instanceof DigestMismatchError) {
          // A damaged manifest blob: remove it, so the manifest written below replaces it.
          this.emit?.({ type: 'repair', key: blobKey(manifestHex), reason: 'the stored manifest does not match its digest' });
          await this.remote.delete([blobKey(manifestHex)]);
          return undefined;
        }
        if (error instanceof NotFoundError) return undefined; // written below
        throw error;
      }),
      this.remote.stat(blobKey(imageHex)),
    ]);
    if (!manifest || !config) return undefined;
    const layers = parseManifest(manifest, blobKey(manifestHex)).layers;
    return { manifestHex, sizes: new Map(layers.map((l) => [l.digest, l.size])) };
  }

  private async saveAndUpload(imageId: string, diffIds: readonly string[]) {
    let cancelSave = () => {};
    try {
      this.emit?.({ type: 'export', image: formatNameTag(this.target) });
      const save = await this.engine.save(imageId);
      const { signal } = this.options;
      const cancel = () => save.destroy(abortedBy(signal as AbortSignal));
      if (signal?.aborted) cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      cancelSave = () => signal?.removeEventListener('abort', cancel);
      const result = await parseSave(
        save,
        { imageId, diffIds },
        {
          knownLayer: (diffId, size) => this.knownLayer(diffId, size),
          unknownLayer: () => this.unknownLayer(),
        },
      );
      await Promise.all([...this.finishing, ...this.uploads]);
      if (this.finishFailure) throw this.finishFailure;
      return result;
    } finally {
      cancelSave();
      await Promise.allSettled([...this.finishing, ...this.uploads]);
      // A spool dir that could not be made already failed the push with its own error.
      await this.spoolDir?.then((dir) => rm(dir, { recursive: true, force: true })).catch(() => {});
    }
  }

  /** A layer named by its diffID: upload it if missing, verified against that diffID. */
  private knownLayer(diffId: string, size: number): EntrySink<LayerIdentity> | undefined {
    this.seen.add(diffId);
    if (!this.missing.has(diffId) || this.claimed.has(diffId)) return undefined;
    return this.uploadKnown(diffId, size);
  }

  /**
   * A layer known only once hashed (the legacy layout). Where it goes depends on what is left:
   * nothing missing, so it is only hashed; one missing layer left and nothing else unseen, so
   * it is that one and goes straight to its key; only missing layers left, so it streams to a
   * temporary key and moves into place; a mix, so it is spooled to local disk while hashed and
   * uploaded from there if it turns out to be missing.
   */
  private unknownLayer(): EntrySink<LayerIdentity> {
    const unseen = this.layersOfImage.filter((d) => !this.seen.has(d));
    const unseenMissing = unseen.filter((d) => this.missing.has(d) && !this.claimed.has(d));
    if (unseenMissing.length === 0) return this.hashOnly();
    if (unseenMissing.length < unseen.length) return this.spool();
    if (unseenMissing.length === 1) return this.uploadKnown(unseenMissing[0] as string, undefined);
    return this.toTemporaryKey();
  }

  private hashOnly(): EntrySink<LayerIdentity> {
    const encoder = new LayerEncoder('none');
    encoder.body.resume();
    return this.identifying(encoder, async () => {});
  }

  /**
   * Upload a layer whose diffID is known (from its name, or as the only one left) straight to
   * its key, verified against that diffID before the write may complete.
   */
  private uploadKnown(diffId: string, size: number | undefined): EntrySink<LayerIdentity> {
    const key = blobKey(hexOf(diffId));
    this.claimed.add(diffId);
    this.emit?.(size === undefined ? { type: 'layer-start', diffId } : { type: 'layer-start', diffId, size });
    const upload = this.startUpload(key, diffId, size);
    return {
      write: upload.write,
      abort: upload.abort,
      end: async () => {
        await endVerified(upload, diffId, key);
        this.seen.add(diffId);
        await this.finishInBackground(upload.written.then((result) => this.layerUploaded(diffId, upload.encoder, result)));
        return { diffId, size: upload.encoder.bytes };
      },
    };
  }

  /** Whatever comes next is needed: stream it to tmp/, then move it to its digest's key. */
  private toTemporaryKey(): EntrySink<LayerIdentity> {
    const tmpKey = `${this.lease.tmpPrefix}${randomUUID()}`;
    const upload = this.startUpload(tmpKey, undefined, undefined);
    return this.identifying(upload, async (diffId) => {
      const finished = upload.written.then(async () => {
        if (this.claim(diffId)) {
          const result = await moveIntoPlace(this.remote, tmpKey, blobKey(hexOf(diffId)));
          this.layerUploaded(diffId, upload.encoder, result);
        } else await this.remote.delete([tmpKey]);
      });
      await this.finishInBackground(finished);
    });
  }

  /** Unknown whether needed: hash while spooling to disk, upload from the spool only if missing. */
  private spool(): EntrySink<LayerIdentity> {
    this.spoolDir ??= mkdtemp(join(this.options.spoolDir ?? tmpdir(), 'dogestry-spool-'));
    const path = this.spoolDir.then((dir) => join(dir, randomUUID()));
    const encoder = new LayerEncoder('none');
    const spooled = path.then((p) => pipeline(encoder.body, createWriteStream(p, { highWaterMark: 1024 * 1024 })));
    spooled.catch((error: Error) => encoder.abort(error));
    return this.identifying(encoder, async (diffId, size) => {
      await spooled;
      const file = await path;
      if (!this.claim(diffId)) {
        await rm(file, { force: true });
        return;
      }
      this.uploads.push(
        this.limit(async () => {
          const key = blobKey(hexOf(diffId));
          this.emit?.({ type: 'layer-start', diffId, size });
          const upload = this.startUpload(key, diffId, size);
          let result: 'written' | 'exists';
          try {
            await encodeStream(createReadStream(file, { highWaterMark: 1024 * 1024 }), upload);
            await endVerified(upload, diffId, key);
            result = await upload.written;
          } finally {
            await rm(file, { force: true });
          }
          this.layerUploaded(diffId, upload.encoder, result);
        }),
      );
    });
  }

  /** A sink writing through `io` whose end answers the layer's identity, after `then` has taken it. */
  private identifying(
    io: Pick<LayerEncoder, 'write' | 'end' | 'abort' | 'bytes'>,
    then: (diffId: string, size: number) => Promise<void>,
  ): EntrySink<LayerIdentity> {
    return {
      write: (chunk) => io.write(chunk),
      abort: (error) => io.abort(error),
      end: async () => {
        const diffId = await io.end();
        this.seen.add(diffId);
        await then(diffId, io.bytes);
        return { diffId, size: io.bytes };
      },
    };
  }

  /** True the first time a missing layer is claimed for upload. */
  private claim(diffId: string): boolean {
    if (!this.missing.has(diffId) || this.claimed.has(diffId)) return false;
    this.claimed.add(diffId);
    return true;
  }

  /**
   * Open a write of an encoded layer. A failed write fails the encoder, so the save stops at
   * once, and the transport's own error is what the push reports.
   */
  private startUpload(key: string, diffId: string | undefined, size: number | undefined) {
    const progress =
      this.emit && diffId
        ? (bytes: number) =>
            this.emit?.(size === undefined ? { type: 'layer-progress', diffId, bytes } : { type: 'layer-progress', diffId, bytes, size })
        : undefined;
    const encoder = new LayerEncoder(this.compression, progress);
    const written = this.remote.write(key, encoder.body, { createOnly: true });
    written.catch((error: Error) => encoder.abort(error));
    const explain = (error: unknown): Promise<never> =>
      written.then(
        () => Promise.reject(error),
        (transportError: unknown) => Promise.reject(transportError),
      );
    return {
      encoder,
      written,
      write: (chunk: Buffer): Promise<void> | undefined => encoder.write(chunk)?.catch(explain),
      end: (expected?: { digest: string; key: string }): Promise<string> => encoder.end(expected).catch(explain),
      abort: (error: Error): void => encoder.abort(error),
      get bytes(): number {
        return encoder.bytes;
      },
    };
  }

  /**
   * Let a layer's transport work (the last bytes, fsync, rename, server-side copy) finish
   * while the save streams on, with at most MAX_FINISHING layers at a time.
   */
  private async finishInBackground(work: Promise<void>): Promise<void> {
    if (this.finishFailure) throw this.finishFailure;
    const tracked: Promise<void> = work
      .catch((error: Error) => {
        // Kept: the promise leaves `finishing` when it settles, and its failure must not go with it.
        this.finishFailure ??= error;
        throw error;
      })
      .finally(() => this.finishing.delete(tracked));
    tracked.catch(() => {}); // its failure is kept above and thrown by saveAndUpload
    this.finishing.add(tracked);
    while (this.finishing.size > MAX_FINISHING) await Promise.race(this.finishing);
  }

  /** A layer's write ended: ours, or (a racing pusher won the create-only write) already there. */
  private layerUploaded(diffId: string, encoder: { storedBytes: number; bytes: number }, result: 'written' | 'exists'): void {
    if (result === 'exists') {
      this.racedPresent.add(diffId);
      this.emit?.({ type: 'layer-done', diffId, bytes: 0, size: encoder.bytes, result: 'present' });
      return;
    }
    this.bytesWritten += encoder.storedBytes;
    this.emit?.({ type: 'layer-done', diffId, bytes: encoder.storedBytes, size: encoder.bytes, result: 'uploaded' });
  }

  private async publish(key: string, bytes: Buffer): Promise<void> {
    this.bytesWritten += await publishKey(this.remote, key, bytes, true, this.emit);
  }
}

/** End a layer that must hash to `diffId`; a mismatch is the engine's (or the spool's) fault, and nothing is committed. */
async function endVerified(
  upload: { end(expected: { digest: string; key: string }): Promise<string> },
  diffId: string,
  key: string,
): Promise<void> {
  try {
    await upload.end({ digest: diffId, key });
  } catch (error) {
    if (!(error instanceof DigestMismatchError)) throw error;
    throw new EngineError(
      `the engine's save gave layer ${diffId} bytes that hash to ${error.actual}: its storage may be damaged. Nothing was published for this layer.`,
      { cause: error },
    );
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
