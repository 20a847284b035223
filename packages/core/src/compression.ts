import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { promisify } from 'node:util';
import { constants, createGunzip, createZstdDecompress, gzip, zstdCompress } from 'node:zlib';
import type { BufferPool } from './buffer-pool.js';
import { InvalidReferenceError } from './errors.js';
import { type ByteOutput, FixedSizeFramer, FramedCodec, joined } from './framed-codec.js';
import { LZ4_MAGIC, Lz4FrameSplitter, lz4Segmenter, SEGMENT } from './lz4-frames.js';
import { pump } from './streams.js';

/** How layer blobs are encoded at rest. Readers detect the encoding by magic bytes. */
export type Compression = 'lz4' | 'zstd' | 'gzip' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['lz4', 'zstd', 'gzip', 'none'];

export function parseCompression(value: string): Compression {
  if ((COMPRESSIONS as readonly string[]).includes(value)) return value as Compression;
  throw new InvalidReferenceError(`unknown compression ${JSON.stringify(value)}: use one of ${COMPRESSIONS.join(', ')}`);
}

// lz4-napi is pinned to 2.8.0: 2.9.x and 2.10.x leak every frame they return (measured
// here: 256 decompressions of a 4 MiB frame grow RSS by ~1.1 GB with the sync API and by
// ~600 MB with the async one, forced GC or not); 2.8.0 stays flat at ~170 MB.
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = 0xfd2fb528;

/** A stage for `pipeline()`: bytes in, bytes out. */
export type ByteStage = (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>;

/**
 * Encodes a layer push-style: `write` uncompressed bytes, and the stored bytes come out of
 * the `output` given to `createEncoder`, in order. Chunks written must not be reused by the
 * caller: encoders may pass them on instead of copying.
 */
export interface Encoder {
  /** A returned promise asks the caller to wait before writing more. */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Flush: every output has been handed on when this resolves. */
  end(): Promise<void>;
}

const gzipMember = promisify(gzip);
const zstdFrame = promisify(zstdCompress);
/**
 * zstd level 1: on a 642 MB image of real files it stores 40.8% of the bytes for 3.6 s of
 * CPU in 1 MiB frames; level 3 stores 36.9% for 5.9 s (lz4: 54% for 2.7 s).
 */
const ZSTD_LEVEL = 1;

/**
 * lz4: adaptive 1 MiB frames (lz4-frames.ts). zstd: independent 1 MiB frames at level 1 (a
 * valid zstd stream; frames compress on the thread pool in parallel). gzip: independent 1 MiB
 * members at level 1 (a valid multi-member gzip stream, likewise). none: the bytes as they are.
 */
export function createEncoder(compression: Compression, output: ByteOutput): Encoder {
  switch (compression) {
    case 'lz4':
      // One frame at a time: its thread encodes one segment at a time, and segments cut while a
      // frame waits are already queued there (lz4-frames.ts). With 2 or 3 at a time a push of the
      // real image peaked at 5 or 10 MiB more, and took no less time.
      return new FramedCodec(lz4Segmenter, output, 1);
    case 'zstd':
      return new FramedCodec(
        (emit) =>
          new FixedSizeFramer(SEGMENT, emit, (parts, length) => async () => [
            await zstdFrame(joined(parts, length), {
              params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [constants.ZSTD_c_checksumFlag]: 1 },
            }),
          ]),
        output,
      );
    case 'gzip':
      // Level 1: layer tars are large; the default level costs ~4x the time for ~5% size.
      return new FramedCodec(
        (emit) =>
          new FixedSizeFramer(SEGMENT, emit, (parts, length) => async () => [await gzipMember(joined(parts, length), { level: 1 })]),
        output,
      );
    case 'none':
      return storedAsIs(output);
  }
}

/**
 * `none`: the bytes as they are, unless they start like an encoding's magic bytes (a tar
 * whose first file name begins so), which a reader would take for that encoding: such a
 * layer is written as lz4 instead (docs/FORMAT.md).
 */
function storedAsIs(output: ByteOutput): Encoder {
  let encoder: Encoder | undefined;
  return {
    write: (chunk) => {
      // Tar entries start with a 512-byte header, so the first chunk holds the first 4 bytes.
      encoder ??= detectEncoding(chunk) === 'none' ? { write: output, end: async () => {} } : createEncoder('lz4', output);
      return encoder.write(chunk);
    },
    end: async () => {
      await encoder?.end();
    },
  };
}

/** The encoder as a `pipeline()` stage. */
export function encoderFor(compression: Compression): ByteStage {
  return (source) => stageOf(source, (output) => createEncoder(compression, output));
}

/**
 * The stage that decodes any encoding dogestry writes (lz4 frames, zstd, gzip, none), chosen by
 * the first bytes. `pool`: lz4 blocks decode into its buffers, for a reader that gives them
 * back (buffer-pool.ts).
 */
export function decode(source: AsyncIterable<Buffer>, pool?: BufferPool): AsyncGenerator<Buffer> {
  return stageOf(source, (output) => createDecoder(output, pool));
}

/**
 * A push-style decoder for any encoding dogestry writes, chosen by the first 4 bytes written to
 * it. `pool`: lz4 blocks decode into its buffers, for an output that gives them back (buffer-pool.ts).
 * `whole`: each lz4 frame's output is handed on in one piece, not in 256 KiB views, for an
 * output that counts bytes rather than chunks.
 */
export function createDecoder(output: ByteOutput, pool?: BufferPool, whole = false): Encoder {
  return new DetectingDecoder(output, pool, whole);
}

/**
 * Decode a stored blob from `source` straight into `output`, push-style: per chunk, only
 * synchronous calls unless something downstream is behind. Answers the stored bytes read.
 *
 * Its outputs (a direct pull's queue, a cache file, a hash) count bytes, so each lz4 frame
 * goes on whole: one call per 1 MiB frame instead of four. A cold pull of the bench's real
 * image from a directory (4 interleaved pairs): stream phase 2.15-2.55 s instead of 2.42-2.64,
 * peak RSS 93 MiB instead of 102.
 */
export async function decodeInto(source: AsyncIterable<Buffer>, output: ByteOutput, pool?: BufferPool): Promise<number> {
  const decoder = createDecoder(output, pool, true);
  let stored = 0;
  await pump(source, (chunk) => {
    stored += chunk.length;
    return decoder.write(chunk);
  });
  await decoder.end();
  return stored;
}

/** Waits for the first 4 bytes, then decodes with whatever they announce. */
class DetectingDecoder implements Encoder {
  private inner: Encoder | undefined;
  private head: Buffer[] = [];
  private headLength = 0;

  constructor(
    private readonly output: ByteOutput,
    private readonly pool: BufferPool | undefined,
    private readonly whole: boolean,
  ) {}

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.inner) return this.inner.write(chunk);
    this.head.push(chunk);
    this.headLength += chunk.length;
    return this.headLength >= 4 ? this.open() : undefined;
  }

  async end(): Promise<void> {
    if (!this.inner && this.headLength > 0) await this.open();
    await this.inner?.end();
  }

  private open(): Promise<void> | undefined {
    const first = Buffer.concat(this.head);
    this.head = [];
    switch (detectEncoding(first)) {
      case 'lz4':
        this.inner = new FramedCodec(
          (emit) => new Lz4FrameSplitter(emit, this.pool),
          this.output,
          undefined,
          this.whole ? Number.POSITIVE_INFINITY : undefined,
        );
        break;
      case 'gzip':
        this.inner = zlibDecoder(createGunzip({ chunkSize: 256 * 1024 }), this.output);
        break;
      case 'zstd':
        this.inner = zlibDecoder(createZstdDecompress({ chunkSize: 256 * 1024 }), this.output);
        break;
      case 'none':
        this.inner = { write: this.output, end: async () => {} };
    }
    return this.inner.write(first);
  }
}

/** A zlib decoder (gunzip: every member of a multi-member stream; zstd: every frame) as a push-style decoder. */
function zlibDecoder(decoder: Transform, output: ByteOutput): Encoder {
  const emptied = pump(decoder, output);
  emptied.catch(() => {}); // awaited by write and end
  return {
    write: (chunk) => (decoder.write(chunk) ? undefined : Promise.race([once(decoder, 'drain').then(() => {}), emptied])),
    end: async () => {
      decoder.end();
      await emptied;
    },
  };
}

/** Which encoding a stored blob uses, from its first bytes. */
export function detectEncoding(first: Buffer): Compression {
  if (first.length >= 4 && first.readUInt32LE(0) === LZ4_MAGIC) return 'lz4';
  if (first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1]) return 'gzip';
  if (first.length >= 4 && first.readUInt32LE(0) === ZSTD_MAGIC) return 'zstd';
  return 'none';
}

/** Outputs a stage holds for its reader before its encoder must wait. */
const STAGE_QUEUE = 8;

/**
 * Drive a push-style encoder from an async iterable and yield its outputs, holding at most
 * STAGE_QUEUE of them: one input can expand a lot (a 1 MiB read of a compressible layer holds
 * ~250 lz4 frames, 250 MiB decoded), so the encoder waits for this generator's reader.
 */
async function* stageOf(source: AsyncIterable<Buffer>, make: (output: ByteOutput) => Encoder): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let finished = false;
  let failure: { error: unknown } | undefined;
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  let stopped = false;
  const encoder = make((bytes) => {
    if (stopped) return Promise.reject(new Error('the reader stopped'));
    queue.push(bytes);
    wakeReader?.();
    return queue.length < STAGE_QUEUE ? undefined : new Promise<void>((resolve) => (wakeWriter = resolve));
  });
  const feeding = (async () => {
    for await (const chunk of source) {
      const wait = encoder.write(chunk);
      if (wait) await wait;
    }
    await encoder.end();
  })().then(
    () => {
      finished = true;
    },
    (error: unknown) => {
      failure = { error };
    },
  );
  try {
    for (;;) {
      if (queue.length > 0) {
        const next = queue.shift() as Buffer;
        if (queue.length < STAGE_QUEUE) {
          const wake = wakeWriter;
          wakeWriter = undefined;
          wake?.();
        }
        yield next;
      } else if (failure) throw failure.error;
      else if (finished) return;
      else {
        await Promise.race([new Promise<void>((resolve) => (wakeReader = resolve)), feeding]);
        wakeReader = undefined;
      }
    }
  } finally {
    // The reader left early (an error downstream): let the feeding loop fail and end.
    stopped = true;
    wakeWriter?.();
  }
}
