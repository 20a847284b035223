/**
 * LZ4 block encoding and decoding: our C (packages/core/wasm/lz4-block.c, built by
 * scripts/build-native.sh) as a native Node-API module where one is built for this platform and
 * loads (linux-x64: native/lz4-block.linux-x64.node), else as WebAssembly. Both are the same
 * code and write the same blocks. The native one works on the callers' own buffers; the
 * WebAssembly one copies each block into its memory and the result out of it (an instance to
 * decode and one to encode, each its memory reused, so no allocation but the output's).
 * Natively, encoding layer 1 of the bench's real image (663 MB of /usr/bin) takes 1.62-1.82 s of
 * CPU against 1.91-2.04 s as WebAssembly.
 *
 * Both run on the calling thread, one call a block, except the native build's `decodeLater`.
 * Decoding takes ~0.5 ms a MiB; a pull's frames decode on libuv's thread pool where the native
 * build loads and there is a second core (`decodeBlockLater`), so its main thread, which also
 * reads, hashes and writes the load, is freed of ~0.45 s per 700 MiB. CLI pulls of the bench's
 * real image from a directory against the same code decoding in place, 9 interleaved pairs in
 * two sets: medians 6.58 s against 7.04 and 5.48 against 5.85 (faster in 7 of 9), peak RSS
 * 95-98 MiB against 99-103. Encoding takes ~2.5 ms a MiB, so push calls it on its encoding
 * thread (encode-thread.ts). (On the main thread, encoding went in slices of 64 KiB with the
 * event loop served between them, else the engine's writes waited on ours; it still made push's
 * main thread the limit.)
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BufferPool, written } from './buffer-pool.js';
import { FormatError } from './errors.js';
import { nativeModule } from './native-module.js';

/** One build of the codec. */
export interface BlockCodec {
  readonly name: 'native' | 'webassembly';
  /** `input` as one block in `output`: its length, or 0 when it would take more than `output.length` bytes. */
  encode(input: Uint8Array, output: Uint8Array): number;
  /** The block `parts` (`length` bytes in all) decoded into exactly `output.length` bytes: that, or a negative error. */
  decode(parts: readonly Uint8Array[], length: number, output: Uint8Array): number;
  /** `decode` on libuv's thread pool (the native build only): neither parts nor output may change until it settles. */
  decodeLater?(parts: readonly Uint8Array[], length: number, output: Uint8Array): Promise<number>;
}

// The WebAssembly global, as far as this file uses it (the project's lib has no DOM types).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
};

interface Lz4BlockModule {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly __heap_base: { readonly value: number };
  decode(src: number, srcLength: number, dst: number, dstCapacity: number): number;
  encode(src: number, srcLength: number, dst: number, dstCapacity: number, table: number): number;
}

/** The native module's functions (lz4-block-napi.c). */
interface NativeLz4 {
  encode(input: Uint8Array, output: Uint8Array): number;
  decode(input: Uint8Array, output: Uint8Array): number;
  decodeLater(input: Uint8Array, output: Uint8Array, done: (result: number) => void): void;
}

const WASM_PAGE = 64 * 1024;
/** The encoder's hash table (2^12 32-bit positions). */
const TABLE = 16 * 1024;
const REASONS: Record<number, string> = {
  [-1]: 'it ends inside a sequence',
  [-2]: 'it decodes to more bytes than its frame says',
  [-3]: 'a match refers to before its start',
  [-4]: 'it decodes to fewer bytes than its frame says',
};

let compiled: object | undefined;
let decoder: Lz4BlockModule | undefined;
let encoder: Lz4BlockModule | undefined;
let base = 0;
let native: BlockCodec | null | undefined;
/** Joins a block that came in several parts, for the native decoder. */
let scratch = Buffer.alloc(0);

/** A file of this package's, by its path from this module's directory. */
const installed = (relative: string) => new URL(relative, import.meta.url);

/** A fresh instance; the module is read and compiled on first use, not with the CLI (3 KB, synchronously). */
function instantiate(): Lz4BlockModule {
  const path = installed('../wasm/lz4-block.wasm');
  try {
    compiled ??= new WebAssembly.Module(readFileSync(path));
    const wasm = new WebAssembly.Instance(compiled, {}).exports as unknown as Lz4BlockModule;
    base = align(wasm.__heap_base.value);
    return wasm;
  } catch (cause) {
    // Our installation's fault, not the remote's or its bytes' (blob-read.ts passes it on).
    throw Object.assign(
      new Error(`dogestry's lz4 codec ${path.pathname} did not load (${String(cause)}): reinstall @dogestry/core`, { cause }),
      {
        code: 'MODULE_NOT_FOUND',
      },
    );
  }
}

const align = (n: number) => (n + 15) & ~15;

/** The module's memory, at least `needed` bytes of it. */
function memoryOf(wasm: Lz4BlockModule, needed: number): Uint8Array {
  const have = wasm.memory.buffer.byteLength;
  if (needed > have) wasm.memory.grow(Math.ceil((needed - have) / WASM_PAGE));
  return new Uint8Array(wasm.memory.buffer);
}

/** Copy `parts` into `memory` from `at` on. */
export function copyParts(memory: Uint8Array, parts: readonly Uint8Array[], at: number): void {
  for (const part of parts) {
    memory.set(part, at);
    at += part.length;
  }
}

/** The WebAssembly build: each call copies its input into the module's memory and its output out. */
const webAssembly: BlockCodec = {
  name: 'webassembly',
  encode(input, output) {
    const wasm = (encoder ??= instantiate());
    const table = base;
    const src = table + TABLE;
    const dst = align(src + input.length);
    const memory = memoryOf(wasm, dst + output.length);
    memory.set(input, src);
    const written = wasm.encode(src, input.length, dst, output.length, table);
    output.set(memory.subarray(dst, dst + written));
    return written;
  },
  decode(parts, length, output) {
    const wasm = (decoder ??= instantiate());
    const src = base;
    const dst = align(src + length);
    const memory = memoryOf(wasm, dst + output.length);
    copyParts(memory, parts, src);
    const written = wasm.decode(src, length, dst, output.length);
    if (written === output.length) output.set(memory.subarray(dst, dst + written));
    return written;
  },
};

/**
 * The native build, loaded on first use; null where there is none or it does not load (another
 * libc, a bundle that left it out): then the WebAssembly build does the work, as on other
 * platforms. Only speed differs.
 */
function nativeCodec(): BlockCodec | null {
  if (native !== undefined) return native;
  const module = nativeModule<NativeLz4>('lz4-block');
  native = module && {
    name: 'native',
    encode: module.encode,
    decode(parts, length, output) {
      return module.decode(oneArray(parts, length, scratchOf), output);
    },
    decodeLater(parts, length, output) {
      // A block that came in several parts is joined into a buffer of its own while it decodes.
      const input = oneArray(parts, length, (n) => joins.take(n) ?? Buffer.allocUnsafeSlow(n));
      return new Promise<number>((resolve) => {
        module.decodeLater(input, output, (result) => {
          written(input); // a join buffer goes back to its pool
          resolve(result);
        });
      });
    },
  };
  return native;
}

/** `parts` (`length` bytes in all) as one array: the only part itself, or copied into `room(length)`. */
function oneArray(parts: readonly Uint8Array[], length: number, room: (length: number) => Uint8Array): Uint8Array {
  const [only] = parts;
  if (parts.length === 1 && only?.length === length) return only;
  const joined = room(length);
  copyParts(joined, parts, 0);
  return joined.subarray(0, length);
}

/** The synchronous decoder's join buffer, grown as needed. */
function scratchOf(length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafeSlow(Math.max(length, 2 * scratch.length));
  return scratch;
}

/** Join buffers for blocks decoding on the thread pool at once (ours hold at most 1 MiB). */
const joins = new BufferPool(1024 * 1024);

/** The builds this process can run, the one in use first (for tests and the bench). */
export function blockCodecs(): BlockCodec[] {
  const own = nativeCodec();
  return own ? [own, webAssembly] : [webAssembly];
}

const inUse = (): BlockCodec => nativeCodec() ?? webAssembly;

/**
 * Decode one LZ4 block, given as `parts` (`length` bytes in all), that holds exactly `size`
 * bytes, into a buffer of `pool` where there is one (see buffer-pool.ts). A block that does not
 * decode to exactly that is FORMAT.
 */
export function decodeBlock(parts: readonly Buffer[], length: number, size: number, pool?: BufferPool, codec = inUse()): Buffer {
  const out = pool?.take(size) ?? Buffer.allocUnsafe(size);
  return checked(codec.decode(parts, length, out), out);
}

/**
 * `decodeBlock` on libuv's thread pool where the build in use can (the native one) and there is
 * a second core; else in place, at once. The parts must not change until it settles.
 */
export async function decodeBlockLater(
  parts: readonly Buffer[],
  length: number,
  size: number,
  pool?: BufferPool,
  codec = inUse(),
): Promise<Buffer> {
  if (!codec.decodeLater || CORES < 2) return decodeBlock(parts, length, size, pool, codec);
  decodedLater++;
  const out = pool?.take(size) ?? Buffer.allocUnsafe(size);
  return checked(await codec.decodeLater(parts, length, out), out);
}

const CORES = availableParallelism();
/** Blocks decoded on the thread pool so far (for tests). */
export let decodedLater = 0;

function checked(written: number, out: Buffer): Buffer {
  if (written !== out.length) throw new FormatError(`corrupt lz4 block: ${REASONS[written] ?? `decoder answered ${written}`}`);
  return out;
}

/**
 * Let this thread's WebAssembly encoder go (its ~2 MiB of memory is freed with it): push encodes
 * here only while its encoding thread starts (encode-thread.ts). The next encodeBlock makes
 * another.
 */
export function releaseEncoder(): void {
  encoder = undefined;
}

/**
 * Encode `input` as one LZ4 block into `output`, in at most `output.length` bytes: answers the
 * block's length, or 0 when it would take more (the encoder gives up as soon as it knows).
 * Synchronous, ~2.5 ms a MiB: push calls it on its encoding thread (encode-thread.ts).
 */
export function encodeBlock(input: Uint8Array, output: Uint8Array, codec = inUse()): number {
  return codec.encode(input, output);
}
