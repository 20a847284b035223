import { pipeline, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { FormatError, InvalidReferenceError } from './errors.js';

/** How layer blobs are encoded at rest. Readers detect the encoding by magic bytes. */
export type Compression = 'lz4' | 'gzip' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['lz4', 'gzip', 'none'];

export function parseCompression(value: string): Compression {
  if ((COMPRESSIONS as readonly string[]).includes(value)) return value as Compression;
  throw new InvalidReferenceError(`unknown compression ${JSON.stringify(value)}: use one of ${COMPRESSIONS.join(', ')}`);
}

// lz4-napi is pinned to 2.8.0: 2.9.x and 2.10.x leak every frame they return (measured
// here: 256 decompressions of a 4 MiB frame grow RSS by ~1.1 GB with the sync API and by
// ~600 MB with the async one, forced GC or not); 2.8.0 stays flat at ~170 MB.
const LZ4_MAGIC = 0x184d2204;
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = 0xfd2fb528;
/** Uncompressed bytes per lz4 frame: a layer is a concatenation of independent frames, so memory in flight stays small. */
const LZ4_FRAME_INPUT = 1024 * 1024;
/** Frames in flight on libuv's thread pool, so (de)compression overlaps with I/O. */
const LZ4_IN_FLIGHT = 3;
const OUTPUT_SLICE = 256 * 1024;

/** A stage for `pipeline()`: bytes in, bytes out. */
export type ByteStage = (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>;

/** The stage that encodes a layer tar for storage. */
export function encoderFor(compression: Compression): ByteStage {
  switch (compression) {
    case 'lz4':
      return (source) => framedCodec(source, (emit) => new FixedSizeFramer(LZ4_FRAME_INPUT, emit), compressFrame);
    case 'gzip':
      // Level 1: layer tars are large; the default level costs ~4x the time for ~5% size.
      return (source) => zlibStage(source, createGzip({ level: 1, chunkSize: 256 * 1024 }));
    case 'none':
      return identity;
  }
}

/**
 * The stage that decodes any encoding dogestry writes (lz4 frames, gzip, none), chosen by
 * the first bytes. zstd is recognised and refused with a clear message.
 */
export async function* decode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  while (headLength < 4) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    headLength += next.value.length;
  }
  if (headLength === 0) return;
  const first = Buffer.concat(head);
  async function* whole(): AsyncGenerator<Buffer> {
    yield first;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  switch (detectEncoding(first)) {
    case 'lz4':
      yield* framedCodec(whole(), (emit) => new Lz4FrameSplitter(emit), decompressFrame);
      return;
    case 'gzip':
      yield* zlibStage(whole(), createGunzip({ chunkSize: 256 * 1024 }));
      return;
    case 'zstd':
      throw new FormatError('this blob is zstd-encoded, which this dogestry cannot decode yet; use a newer dogestry');
    case 'none':
      yield* whole();
  }
}

/** Which encoding a stored blob uses, from its first bytes. */
export function detectEncoding(first: Buffer): Compression | 'zstd' {
  if (first.length >= 4 && first.readUInt32LE(0) === LZ4_MAGIC) return 'lz4';
  if (first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1]) return 'gzip';
  if (first.length >= 4 && first.readUInt32LE(0) === ZSTD_MAGIC) return 'zstd';
  return 'none';
}

async function* identity(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* source;
}

async function* zlibStage(source: AsyncIterable<Buffer>, codec: Transform): AsyncGenerator<Buffer> {
  pipeline(Readable.from(source, { objectMode: false }), codec, () => {});
  yield* codec as AsyncIterable<Buffer>;
}

/** Cuts a byte stream into units (frames) and hands each complete unit to `emit`. */
interface Framer {
  write(chunk: Buffer): void;
  end(): void;
}

/**
 * Runs an async per-frame codec (lz4-napi, on libuv's thread pool) with up to LZ4_IN_FLIGHT
 * frames in flight, so (de)compression overlaps with I/O and uses both cores, and yields the
 * outputs in input order.
 */
async function* framedCodec(
  source: AsyncIterable<Buffer>,
  makeFramer: (emit: (frame: Buffer) => void) => Framer,
  codec: (input: Buffer) => Promise<Buffer>,
): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  // One input chunk can hold many frames (a compressible layer packs ~100 into 1 MiB), so
  // frames wait here and at most LZ4_IN_FLIGHT are being (de)compressed at any time.
  const ready: Buffer[] = [];
  const framer = makeFramer((frame) => ready.push(frame));
  const startReady = async function* (): AsyncGenerator<Buffer> {
    while (ready.length > 0) {
      while (queue.length >= LZ4_IN_FLIGHT) yield* slices(await (queue.shift() as Promise<Buffer>));
      const job = codec(ready.shift() as Buffer);
      job.catch(() => {}); // awaited in order above and below; this only silences an early rejection
      queue.push(job);
    }
  };
  for await (const chunk of source) {
    framer.write(chunk);
    yield* startReady();
  }
  framer.end();
  yield* startReady();
  while (queue.length > 0) yield* slices(await (queue.shift() as Promise<Buffer>));
}

/**
 * Stages of pipeline() buffer up to 16 chunks each whatever their size, so whole 4 MiB
 * frames would pin ~64 MiB per stage: hand them on as 256 KiB views (no copy).
 */
function* slices(buffer: Buffer): Generator<Buffer> {
  for (let at = 0; at < buffer.length; at += OUTPUT_SLICE) yield buffer.subarray(at, at + OUTPUT_SLICE);
}

/** Groups input into frames of `size` bytes (the last may be shorter). */
class FixedSizeFramer implements Framer {
  private parts: Buffer[] = [];
  private length = 0;
  constructor(
    private readonly size: number,
    private readonly emit: (frame: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    let rest = chunk;
    while (this.length + rest.length >= this.size) {
      const take = this.size - this.length;
      this.parts.push(rest.subarray(0, take));
      this.emit(Buffer.concat(this.parts));
      this.parts = [];
      this.length = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      this.parts.push(rest);
      this.length += rest.length;
    }
  }

  end(): void {
    if (this.length > 0) this.emit(Buffer.concat(this.parts));
    this.parts = [];
    this.length = 0;
  }
}

/**
 * Splits a concatenation of LZ4 frames (and skippable frames) into whole frames by walking
 * the frame format: header, then blocks each prefixed by a 32-bit size, an end mark, and an
 * optional content checksum.
 */
class Lz4FrameSplitter implements Framer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private frame: Buffer[] = [];
  private state: 'magic' | 'header' | 'blockSize' | 'block' | 'checksum' | 'skip' = 'magic';
  private remaining = 0;
  private blockChecksum = false;
  private contentChecksum = false;
  private skipping = false;

  constructor(private readonly emit: (frame: Buffer) => void) {}

  write(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    this.advance();
  }

  end(): void {
    if (this.state !== 'magic' || this.pendingLength > 0) throw new Error('truncated lz4 stream');
  }

  private advance(): void {
    for (;;) {
      switch (this.state) {
        case 'magic': {
          const magic = this.take(4);
          if (!magic) return;
          const value = magic.readUInt32LE(0);
          if ((value & 0xfffffff0) === 0x184d2a50) {
            this.state = 'skip';
            this.skipping = true;
            break;
          }
          if (value !== LZ4_MAGIC) throw new Error('corrupt lz4 stream: bad frame magic');
          this.frame.push(magic);
          this.state = 'header';
          break;
        }
        case 'skip': {
          if (this.skipping) {
            const size = this.take(4);
            if (!size) return;
            this.remaining = size.readUInt32LE(0);
            this.skipping = false;
          }
          if (!this.consume(false)) return;
          this.state = 'magic';
          break;
        }
        case 'header': {
          const flg = this.peekByte();
          if (flg === undefined) return;
          const length = 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
          const header = this.take(length);
          if (!header) return;
          this.blockChecksum = (flg & 0x10) !== 0;
          this.contentChecksum = (flg & 0x04) !== 0;
          this.frame.push(header);
          this.state = 'blockSize';
          break;
        }
        case 'blockSize': {
          const size = this.take(4);
          if (!size) return;
          this.frame.push(size);
          const value = size.readUInt32LE(0);
          if (value === 0) {
            if (this.contentChecksum) {
              this.remaining = 4;
              this.state = 'checksum';
            } else this.finishFrame();
            break;
          }
          this.remaining = (value & 0x7fffffff) + (this.blockChecksum ? 4 : 0);
          this.state = 'block';
          break;
        }
        case 'block':
          if (!this.consume(true)) return;
          this.state = 'blockSize';
          break;
        case 'checksum':
          if (!this.consume(true)) return;
          this.finishFrame();
          break;
      }
    }
  }

  private finishFrame(): void {
    this.emit(Buffer.concat(this.frame));
    this.frame = [];
    this.state = 'magic';
  }

  /** Move up to `remaining` bytes into the frame (or drop them); true when all were moved. */
  private consume(keep: boolean): boolean {
    while (this.remaining > 0 && this.pending.length > 0) {
      const head = this.pending[0] as Buffer;
      const n = Math.min(head.length, this.remaining);
      if (keep) this.frame.push(head.subarray(0, n));
      this.remaining -= n;
      this.pendingLength -= n;
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
    }
    return this.remaining === 0;
  }

  private peekByte(): number | undefined {
    // FLG is the first byte after the magic, which `take(4)` already consumed.
    return this.pending.length > 0 ? (this.pending[0] as Buffer)[0] : undefined;
  }

  /** Remove and return exactly `n` bytes from the front, copying only those bytes. */
  private take(n: number): Buffer | undefined {
    if (this.pendingLength < n) return undefined;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.pending[0] as Buffer;
      const count = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, count);
      filled += count;
      if (count === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(count);
    }
    this.pendingLength -= n;
    return out;
  }
}
