/**
 * Layers as a concatenation of independent LZ4 frames (the LZ4 frame format, readable by any
 * lz4 tool). Each 1 MiB segment is one frame of one block: compressed by our own block
 * encoder (lz4-block.ts: native on linux-x64, else WebAssembly), on a thread of its own
 * (encode-thread.ts), where that pays (lz4-segment.ts), or stored as uncompressed blocks, which
 * costs no copy and decodes by passing the blocks through (or one copy, for a reader that
 * decodes into a buffer pool). So incompressible data (already compressed files, media, random
 * bytes) moves at memory speed, and compressible data still shrinks. On /usr/bin's 663 MB this
 * encodes in 0.5 s less CPU than lz4-napi's block calls on the thread pool did (see lz4-block.c).
 *
 * Decoding walks the frame format here and hands each compressed block of a frame with
 * independent blocks to the same module's decoder (on libuv's thread pool where it can:
 * lz4-block.ts), whose output goes to a fresh buffer or one of a pool's (buffer-pool.ts). On /usr/bin's 663 MB its decode calls take 0.30 s natively and
 * 0.35-0.40 s as WebAssembly, lz4_flex's WebAssembly build's 0.53 s plus 0.15 s of copies around
 * them; lz4-napi's calls each fault in a fresh output buffer (0.78 s user + 1.34 s sys). Frames
 * with linked blocks or a dictionary go whole to lz4-napi. Block and content checksums are
 * skipped, not checked: every layer is verified against its sha256 digest, which no lz4
 * checksum adds to.
 */
import { createRequire } from 'node:module';
import type { BufferPool } from './buffer-pool.js';
import { SegmentEncoder } from './encode-thread.js';
import { FormatError } from './errors.js';
import { FixedSizeFramer, type Framer, type FrameWork, joined } from './framed-codec.js';
import { copyParts, decodeBlockLater } from './lz4-block.js';

// Native and WebAssembly code load on first use, not with the CLI.
const require = createRequire(import.meta.url);
type Lz4Napi = typeof import('lz4-napi');
let napi: Lz4Napi | undefined;
const lz4napi = (): Lz4Napi => (napi ??= require('lz4-napi') as Lz4Napi);

export const LZ4_MAGIC = 0x184d2204;
/** Uncompressed bytes per frame: memory in flight stays small and frames decode independently. */
export const SEGMENT = 1024 * 1024;
/** Our frames: version 01, independent blocks, no checksums; max block size 4 MiB. */
const FLG = 0x60;
const BD = 0x70;
/** FLG bit: the descriptor carries the frame's content size. */
const CONTENT_SIZE = 0x08;
const MAX_BLOCK = 4 * 1024 * 1024;
const UNCOMPRESSED_BLOCK = 0x80000000;
const FRAME_HEADER = (() => {
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = FLG;
  header[5] = BD;
  header[6] = (xxh32(header.subarray(4, 6)) >>> 8) & 0xff;
  return header;
})();
const END_MARK = Buffer.alloc(4);

/**
 * The adaptive encoder's framer: 1 MiB segments, each compressed or raw as lz4-segment.ts
 * decides, on the encoding thread (encode-thread.ts).
 */
export function lz4Segmenter(emit: (work: FrameWork) => void): Framer {
  const encoder = new SegmentEncoder();
  const framer = new FixedSizeFramer(SEGMENT, emit, (parts, length) => {
    // Sent now, in order; the frame waits for its answer when its turn comes.
    const block = encoder.encode(parts, length);
    block.catch(() => {}); // awaited by the frame's work
    return async () => {
      const encoded = await block;
      return encoded ? compressedFrame(encoded, length) : rawFrame(parts);
    };
  });
  return {
    write: (chunk) => framer.write(chunk),
    end: () => {
      framer.end();
      encoder.close();
    },
  };
}

/**
 * One LZ4 frame of one compressed block. Its descriptor carries the content size, so a reader
 * can decode the block knowing its exact size.
 */
function compressedFrame(block: Buffer, contentSize: number): Buffer[] {
  const header = Buffer.alloc(15);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = FLG | CONTENT_SIZE;
  header[5] = BD;
  header.writeBigUInt64LE(BigInt(contentSize), 6);
  header[14] = (xxh32(header.subarray(4, 14)) >>> 8) & 0xff;
  const size = Buffer.allocUnsafe(4);
  size.writeUInt32LE(block.length, 0);
  return [header, size, block, END_MARK];
}

/**
 * One LZ4 frame of `parts` stored uncompressed, in blocks of MAX_BLOCK bytes (the last shorter)
 * however the parts were cut: the same bytes are always framed the same way, whatever chunks a
 * socket delivered them in. Only headers are allocated; the blocks are views of the parts.
 */
export function rawFrame(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [FRAME_HEADER];
  let left = parts.reduce((sum, part) => sum + part.length, 0);
  let index = 0;
  let offset = 0;
  while (left > 0) {
    const blockLength = Math.min(left, MAX_BLOCK);
    const size = Buffer.allocUnsafe(4);
    size.writeUInt32LE((UNCOMPRESSED_BLOCK | blockLength) >>> 0, 0);
    out.push(size);
    for (let need = blockLength; need > 0; ) {
      const part = parts[index] as Buffer;
      const n = Math.min(part.length - offset, need);
      if (n > 0) out.push(offset === 0 && n === part.length ? part : part.subarray(offset, offset + n));
      need -= n;
      offset += n;
      if (offset === part.length) {
        index++;
        offset = 0;
      }
    }
    left -= blockLength;
  }
  out.push(END_MARK);
  return out;
}

/**
 * A frame again from its descriptor and blocks, without checksums (which were skipped), for
 * lz4-napi: a frame of several compressed blocks, whose sizes only its decoder learns.
 */
function rebuiltFrame(descriptor: Buffer, blocks: readonly BlockParts[]): Buffer {
  const header = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), descriptor]);
  header[4] = (header[4] as number) & ~0x14; // no block or content checksums
  header[header.length - 1] = (xxh32(header.subarray(4, header.length - 1)) >>> 8) & 0xff;
  const out: Buffer[] = [header];
  for (const block of blocks) {
    const size = Buffer.allocUnsafe(4);
    size.writeUInt32LE(((block.raw ? UNCOMPRESSED_BLOCK : 0) | block.length) >>> 0, 0);
    out.push(size, ...block.parts);
  }
  out.push(END_MARK);
  return Buffer.concat(out);
}

/** One block of a frame being read: its bytes, and whether they are stored raw. */
interface BlockParts {
  readonly raw: boolean;
  readonly parts: Buffer[];
  length: number;
}

/**
 * The decoder's framer: walks the frame format (magic, descriptor, blocks each prefixed by a
 * 32-bit size, optional block checksums, end mark, optional content checksum; skippable
 * frames are dropped). Raw blocks pass through as they are; compressed blocks of a frame
 * with independent blocks decode one by one (see the file comment); other frames go whole
 * to lz4-napi.
 */
export class Lz4FrameSplitter implements Framer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** The whole frame, kept only for frames lz4-napi must decode. */
  private frame: Buffer[] = [];
  private frameLength = 0;
  private blocks: BlockParts[] = [];
  private block: BlockParts | undefined;
  private state: 'magic' | 'header' | 'blockSize' | 'block' | 'blockChecksum' | 'checksum' | 'skip' = 'magic';
  private remaining = 0;
  /** Decoded here block by block: independent blocks, no dictionary, content size known. */
  private byBlock = false;
  private descriptor: Buffer = Buffer.alloc(0);
  private contentSize = 0;
  private maxBlock = MAX_BLOCK;
  private blockChecksum = false;
  private contentChecksum = false;
  private skipping = false;

  /** `pool`: where decoded blocks go (buffer-pool.ts); fresh buffers without one. */
  constructor(
    private readonly emit: (work: FrameWork) => void,
    private readonly pool?: BufferPool,
  ) {}

  write(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    this.advance();
  }

  end(): void {
    if (this.state !== 'magic' || this.pendingLength > 0) throw new FormatError('truncated lz4 stream');
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
          if (value !== LZ4_MAGIC) throw new FormatError('corrupt lz4 stream: bad frame magic');
          this.keep(magic, true);
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
          if (!this.consume()) return;
          this.state = 'magic';
          break;
        }
        case 'header': {
          const flg = this.peekByte();
          if (flg === undefined) return;
          const length = 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
          const header = this.take(length);
          if (!header) return;
          // Independent blocks, no dictionary, and a content size: blocks decode on their own.
          this.byBlock = (flg & 0x20) !== 0 && (flg & 0x01) === 0 && (flg & CONTENT_SIZE) !== 0;
          this.contentSize = flg & CONTENT_SIZE ? Number(header.readBigUInt64LE(2)) : 0;
          this.descriptor = header;
          const sizeCode = ((header[1] as number) >> 4) & 0x07;
          if (sizeCode < 4) throw new FormatError('corrupt lz4 stream: bad block size in the frame descriptor');
          this.maxBlock = 1 << (8 + 2 * sizeCode);
          this.blockChecksum = (flg & 0x10) !== 0;
          this.contentChecksum = (flg & 0x04) !== 0;
          this.keep(header, true);
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
          this.remaining = value & 0x7fffffff;
          if (this.remaining > this.maxBlock) throw new FormatError('corrupt lz4 stream: a block larger than its frame allows');
          // Blocks are gathered (by reference) for every frame: one of uncompressed blocks only is
          // its blocks' bytes, whatever its flags; lz4-napi gets the other frames whole.
          this.block = { raw: (value & UNCOMPRESSED_BLOCK) !== 0, parts: [], length: 0 };
          this.blocks.push(this.block);
          this.state = 'block';
          break;
        }
        case 'block':
          if (!this.consume()) return;
          this.block = undefined;
          if (this.blockChecksum) {
            this.remaining = 4;
            this.state = 'blockChecksum';
          } else this.state = 'blockSize';
          break;
        case 'blockChecksum':
          if (!this.consume()) return;
          this.state = 'blockSize';
          break;
        case 'checksum':
          if (!this.consume()) return;
          this.finishFrame();
          break;
      }
    }
  }

  private finishFrame(): void {
    const blocks = this.blocks;
    if (blocks.every((b) => b.raw)) {
      // Stored, not compressed (an incompressible segment, or a blob kept byte for byte): no
      // decoding, and no copy but into a pool's buffer where there is one. (The read buffers the
      // blocks came in then die young, for minor GCs: a full GC costs ~10 ms, a copy of 1 MiB ~0.1.)
      const pooled = this.pool && copyInto(this.pool, blocks);
      this.emit(() => (pooled ? [pooled] : blocks.flatMap((b) => b.parts)));
    } else if (this.byBlock) {
      const compressed = blocks.filter((b) => !b.raw);
      if (compressed.length <= 1) {
        // The one compressed block holds what the raw blocks do not.
        const size = this.contentSize - blocks.reduce((sum, b) => sum + (b.raw ? b.length : 0), 0);
        // Not every block is raw (above), so exactly one is compressed.
        const [block] = compressed as [BlockParts];
        if (size <= 0 || size > this.maxBlock) throw new FormatError('corrupt lz4 stream: the frame content size does not fit its blocks');
        this.emit(async () => {
          // Decoded on libuv's thread pool where it can be, so this thread goes on reading and writing.
          const out = await decodeBlockLater(block.parts, block.length, size, this.pool);
          return blocks.flatMap((b) => (b.raw ? b.parts : [out]));
        });
      } else {
        const frame = rebuiltFrame(this.descriptor, blocks);
        this.emit(async () => [await lz4napi().decompressFrame(frame)]);
      }
    } else {
      const frame = joined(this.frame, this.frameLength);
      this.emit(async () => [await lz4napi().decompressFrame(frame)]);
    }
    this.frame = [];
    this.frameLength = 0;
    this.blocks = [];
    this.state = 'magic';
  }

  /** Bytes of the frame itself, for a frame lz4-napi decodes whole (magic and descriptor always: whether it will be is not known yet). */
  private keep(bytes: Buffer, always = false): void {
    if (this.byBlock && !always) return;
    this.frame.push(bytes);
    this.frameLength += bytes.length;
  }

  /** Move up to `remaining` bytes into the current block (or the frame, or drop them); true when all were moved. */
  private consume(): boolean {
    while (this.remaining > 0 && this.pending.length > 0) {
      const head = this.pending[0] as Buffer;
      const n = Math.min(head.length, this.remaining);
      const part = n === head.length ? head : head.subarray(0, n);
      if (this.state !== 'skip') {
        if (this.block) {
          this.block.parts.push(part);
          this.block.length += n;
        }
        if (!this.byBlock) this.keep(part);
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

/** `blocks`' bytes in one buffer of `pool`'s; undefined when they do not fit one. */
function copyInto(pool: BufferPool, blocks: readonly BlockParts[]): Buffer | undefined {
  const out = pool.take(blocks.reduce((sum, b) => sum + b.length, 0));
  if (!out) return undefined;
  copyParts(
    out,
    blocks.flatMap((b) => b.parts),
    0,
  );
  return out;
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
