/**
 * LZ4 block encoding and decoding in our own WebAssembly module (packages/core/wasm/lz4-block.c,
 * built by scripts/build-wasm.sh): an instance to decode and one to encode, each its memory
 * reused for every block, so a block costs one copy in and one copy out and no allocation but
 * the output's.
 *
 * Both run on the calling thread, one call a block. Decoding takes ~0.5 ms a MiB, on pull's
 * main thread. Encoding takes ~2.5 ms a MiB, so push calls it on its encoding thread
 * (encode-thread.ts). (On the main thread, encoding went in slices of 64 KiB with the event
 * loop served between them, else the engine's writes waited on ours; it still made push's main
 * thread the limit.)
 */
import { readFileSync } from 'node:fs';
import type { BufferPool } from './buffer-pool.js';
import { FormatError } from './errors.js';

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

const WASM_PAGE = 64 * 1024;
/** The encoder's hash table (2^12 32-bit positions). */
const TABLE = 16 * 1024;
/** The encoder reads up to 16 bytes past its input. */
const OVERREAD = 16;
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

/** A fresh instance; the module is read and compiled on first use, not with the CLI (3 KB, synchronously). */
function instantiate(): Lz4BlockModule {
  const path = new URL('../wasm/lz4-block.wasm', import.meta.url);
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

/** `memory`'s bytes [from, from + size) in a buffer of `pool`'s, or else a fresh one. */
function copyOut(memory: Uint8Array, from: number, size: number, pool?: BufferPool): Buffer {
  const out = pool?.take(size) ?? Buffer.allocUnsafe(size);
  out.set(memory.subarray(from, from + size));
  return out;
}

/**
 * Decode one LZ4 block, given as `parts` (`length` bytes in all), that holds exactly `size`
 * bytes, into a buffer of `pool` where there is one (see buffer-pool.ts). A block that does not
 * decode to exactly that is FORMAT.
 */
export function decodeBlock(parts: readonly Buffer[], length: number, size: number, pool?: BufferPool): Buffer {
  const wasm = (decoder ??= instantiate());
  const src = base;
  const dst = align(src + length);
  const memory = memoryOf(wasm, dst + size);
  copyParts(memory, parts, src);
  const written = wasm.decode(src, length, dst, size);
  if (written !== size) throw new FormatError(`corrupt lz4 block: ${REASONS[written] ?? `decoder answered ${written}`}`);
  return copyOut(memory, dst, size, pool);
}

/**
 * Let this thread's encoder go (its ~2 MiB of memory is freed with it): push encodes here only
 * while its encoding thread starts (encode-thread.ts). The next encodeBlock makes another.
 */
export function releaseEncoder(): void {
  encoder = undefined;
}

/**
 * Encode `input` as one LZ4 block into `output`, in at most `output.length` bytes: answers the
 * block's length, or 0 when it would take more (the encoder gives up as soon as it knows).
 * Synchronous, ~2.5 ms a MiB: push calls it on its encoding thread (encode-thread.ts).
 */
export function encodeBlock(input: Uint8Array, output: Uint8Array): number {
  const wasm = (encoder ??= instantiate());
  const table = base;
  const src = table + TABLE;
  const dst = align(src + input.length + OVERREAD);
  const memory = memoryOf(wasm, dst + output.length);
  memory.set(input, src);
  const written = wasm.encode(src, input.length, dst, output.length, table);
  output.set(memory.subarray(dst, dst + written));
  return written;
}
