import { hold, release } from './buffer-pool.js';
import { nativeModule } from './native-module.js';
import type { StreamHash } from './sha256.js';

/** The native module's functions (native/sha256-napi.c). */
interface NativeSha256 {
  init(context: Uint8Array): void;
  update(context: Uint8Array, chunks: readonly Uint8Array[], done: () => void): void;
  final(context: Uint8Array, digest: Uint8Array): void;
}

/** The room the module asks for OpenSSL's SHA256_CTX (112 bytes). */
const CONTEXT_BYTES = 256;
/** Bytes passed to `update` and not yet hashed before it asks its caller to wait (and lets go at half). */
const QUEUED = 4 * 1024 * 1024;

let module: NativeSha256 | null | undefined;

/**
 * A stream hash whose sha256 runs on libuv's thread pool (native/sha256-napi.c: OpenSSL's own
 * functions, which node exports), or null where the module does not load. No thread of our
 * own and no copy: a chunk is read where it lies, after `update` returned, so it must not
 * change until hashed. Buffers that get reused are a pool's (buffer-pool.ts), whose loans the
 * hash holds until it has read them; every other chunk a stream passes is a fresh buffer.
 *
 * Why: a pull's main thread reads, decodes, hashes and writes each layer to the engine, which
 * reads the whole load before applying any of it; while the body streams that thread is the
 * limit, and sha256 was ~0.7 s of its ~2 s for the bench's real image.
 */
export function nativeHash(): StreamHash | null {
  module ??= nativeModule<NativeSha256>('sha256');
  return module && new NativeHash(module);
}

class NativeHash implements StreamHash {
  private readonly context = new Uint8Array(CONTEXT_BYTES);
  /** Chunks passed and not yet sent to the thread pool. */
  private queue: Uint8Array[] = [];
  /** Bytes passed and not yet hashed. */
  private pending = 0;
  private hashing = false;
  private waiting: (() => void)[] = [];
  private idle: (() => void) | undefined;

  constructor(private readonly native: NativeSha256) {
    native.init(this.context);
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (chunk.length === 0) return undefined;
    hold(chunk);
    this.queue.push(chunk);
    this.pending += chunk.length;
    if (!this.hashing) this.send();
    return this.pending <= QUEUED ? undefined : new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  async digest(): Promise<string> {
    if (this.hashing) await new Promise<void>((resolve) => (this.idle = resolve));
    const digest = Buffer.alloc(32);
    this.native.final(this.context, digest);
    return digest.toString('hex');
  }

  discard(): void {
    for (const chunk of this.queue) release(chunk);
    this.queue = [];
    this.wake();
  }

  /** Everything queued to the thread pool, as one piece of work. */
  private send(): void {
    const chunks = this.queue;
    this.queue = [];
    this.hashing = true;
    try {
      this.native.update(this.context, chunks, () => this.hashed(chunks));
    } catch (error) {
      this.hashing = false;
      for (const chunk of chunks) release(chunk);
      throw error;
    }
  }

  private hashed(chunks: readonly Uint8Array[]): void {
    this.hashing = false;
    for (const chunk of chunks) {
      release(chunk);
      this.pending -= chunk.length;
    }
    if (this.queue.length > 0) this.send();
    else this.idle?.();
    if (this.pending <= QUEUED / 2) this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
