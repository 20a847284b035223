/**
 * Layers as a concatenation of independent LZ4 frames (the LZ4 frame format, readable by any
 * lz4 tool). Each 1 MiB segment is one frame: compressed by lz4-napi where that pays, or
 * written here with uncompressed blocks, which costs neither a copy nor a thread-pool job and
 * decodes by passing the blocks through. So incompressible data (already compressed files,
 * media, random bytes) moves at memory speed, and compressible data still shrinks.
 */
import { compressFrame, decompressFrame } from 'lz4-napi';
import { FixedSizeFramer, type Framer, type FrameWork, joined } from './framed-codec.js';

export const LZ4_MAGIC = 0x184d2204;
/** Uncompressed bytes per frame: memory in flight stays small and frames decode independently. */
export const SEGMENT = 1024 * 1024;
/** Keep a compressed frame only if it saves at least 1/8 of the segment. */
const WORTH = 7 / 8;
/** Bytes at the start of a segment compressed first, to see whether the whole is worth it. */
const SAMPLE = 64 * 1024;
/** Our raw frames: version 01, independent blocks, no checksums; max block size 4 MiB. */
const FLG = 0x60;
const BD = 0x70;
const MAX_BLOCK = 4 * 1024 * 1024;
const UNCOMPRESSED_BLOCK = 0x80000000;
const RAW_FRAME_HEADER = (() => {
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = FLG;
  header[5] = BD;
  header[6] = (xxh32(header.subarray(4, 6)) >>> 8) & 0xff;
  return header;
})();
const END_MARK = Buffer.alloc(4);

/**
 * The adaptive encoder's framer: 1 MiB segments, each compressed or raw (see the file
 * comment). A segment's first 64 KiB are compressed first: where they do not shrink, the
 * segment is stored raw for 1/16 of the cost of compressing it whole.
 */
export function lz4Segmenter(emit: (work: FrameWork) => void): Framer {
  return new FixedSizeFramer(SEGMENT, emit, (parts, length) => async () => {
    if (length > SAMPLE) {
      const sample = firstBytes(parts, SAMPLE);
      if ((await compressFrame(sample)).length > sample.length * WORTH) return rawFrame(parts);
    }
    const compressed = await compressFrame(joined(parts, length));
    return compressed.length <= length * WORTH ? [compressed] : rawFrame(parts);
  });
}

function firstBytes(parts: readonly Buffer[], n: number): Buffer {
  const first = parts[0] as Buffer;
  if (first.length >= n) return first.subarray(0, n);
  return joined(
    parts,
    Math.min(
      n,
      parts.reduce((sum, p) => sum + p.length, 0),
    ),
  ).subarray(0, n);
}

/** One LZ4 frame whose blocks are `parts` stored uncompressed: only headers are allocated. */
function rawFrame(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [RAW_FRAME_HEADER];
  for (const part of parts) {
    for (let at = 0; at < part.length; at += MAX_BLOCK) {
      const block = part.length <= MAX_BLOCK ? part : part.subarray(at, at + MAX_BLOCK);
      const size = Buffer.allocUnsafe(4);
      size.writeUInt32LE((UNCOMPRESSED_BLOCK | block.length) >>> 0, 0);
      out.push(size, block);
    }
  }
  out.push(END_MARK);
  return out;
}

/**
 * The decoder's framer: walks the frame format (magic, descriptor, blocks each prefixed by a
 * 32-bit size, end mark, optional content checksum; skippable frames are dropped). A frame of
 * only uncompressed blocks and no checksums is passed through as its blocks; any other frame
 * goes whole to lz4-napi, which checks its checksums.
 */
export class Lz4FrameSplitter implements Framer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private frame: Buffer[] = [];
  private frameLength = 0;
  /** The payloads of the current frame while every block so far is uncompressed. */
  private rawBlocks: Buffer[] | undefined = [];
  private state: 'magic' | 'header' | 'blockSize' | 'block' | 'checksum' | 'skip' = 'magic';
  private remaining = 0;
  private blockRaw = false;
  private blockChecksum = false;
  private contentChecksum = false;
  private skipping = false;

  constructor(private readonly emit: (work: FrameWork) => void) {}

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
          this.keep(magic);
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
          if (this.blockChecksum || this.contentChecksum) this.rawBlocks = undefined;
          this.keep(header);
          this.state = 'blockSize';
          break;
        }
        case 'blockSize': {
          const size = this.take(4);
          if (!size) return;
          this.keep(size);
          const value = size.readUInt32LE(0);
          if (value === 0) {
            if (this.contentChecksum) {
              this.remaining = 4;
              this.state = 'checksum';
            } else this.finishFrame();
            break;
          }
          this.blockRaw = (value & UNCOMPRESSED_BLOCK) !== 0;
          if (!this.blockRaw) this.rawBlocks = undefined;
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
    const raw = this.rawBlocks;
    if (raw) this.emit(() => raw);
    else {
      const frame = joined(this.frame, this.frameLength);
      this.emit(async () => [await decompressFrame(frame)]);
    }
    this.frame = [];
    this.frameLength = 0;
    this.rawBlocks = [];
    this.state = 'magic';
  }

  private keep(bytes: Buffer): void {
    this.frame.push(bytes);
    this.frameLength += bytes.length;
  }

  /** Move up to `remaining` bytes into the frame (or drop them); true when all were moved. */
  private consume(keep: boolean): boolean {
    while (this.remaining > 0 && this.pending.length > 0) {
      const head = this.pending[0] as Buffer;
      const n = Math.min(head.length, this.remaining);
      const part = n === head.length ? head : head.subarray(0, n);
      if (keep) {
        this.keep(part);
        if (this.rawBlocks && this.state === 'block') this.rawBlocks.push(part);
      }
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

/** xxHash32 of a short input (< 16 bytes), for the frame descriptor's header checksum byte. */
function xxh32(bytes: Uint8Array, seed = 0): number {
  const P1 = 0x9e3779b1;
  const P2 = 0x85ebca77;
  const P3 = 0xc2b2ae3d;
  const P4 = 0x27d4eb2f;
  const P5 = 0x165667b1;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  if (bytes.length >= 16) throw new RangeError('xxh32 here handles short inputs only');
  let h = (seed + P5 + bytes.length) >>> 0;
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    const word =
      ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)) >>> 0;
    h = Math.imul(rotl((h + Math.imul(word, P3)) >>> 0, 17), P4) >>> 0;
  }
  for (; i < bytes.length; i++) h = Math.imul(rotl((h + Math.imul(bytes[i] as number, P5)) >>> 0, 11), P1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), P2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), P3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
