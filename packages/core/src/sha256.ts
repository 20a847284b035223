import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DogestryError } from './errors.js';
import { nativeHash } from './sha256-native.js';

/**
 * An incremental sha256 of a stream (a layer on its way in or out). The caller may hand a
 * chunk on as soon as `update` returns, but must not change its bytes: a hash may read them
 * later (sha256-native.ts; a buffer pool's lent buffers, which are reused, are held until it
 * has: buffer-pool.ts). A returned promise asks the caller to wait before the next update, as a
 * stream's backpressure does.
 */
export interface StreamHash {
  update(chunk: Buffer): Promise<void> | undefined;
  /** The hex digest of everything updated. */
  digest(): Promise<string>;
  /** Forget this hash: its stream failed. */
  discard(): void;
}

/**
 * A stream hash, on a shared hashing thread where there are cores to spare. sha256 costs
 * ~0.6 s of CPU per GiB on the thread that also parses, decodes and writes the stream; on the
 * hashing thread the caller pays ~0.15 s per GiB for copying instead (measured). On 2 cores
 * that does not pay: push gained -0.1 s (within noise), verify lost 0.1 s, so there it hashes
 * in place. (A pull's layers did gain: see `offloadedHash`.)
 */
export function streamHash(): StreamHash {
  return availableParallelism() > 2 ? threadHash() : new LocalHash();
}

/**
 * The hash of a pull's decoded layers: on libuv's thread pool with our native module
 * (sha256-native.ts: no copy, no thread of our own), with 2 cores or more; else `streamHash`.
 *
 * The engine reads a whole load before it applies any layer, and while the body streams a
 * pull's main thread reads, decodes, hashes and writes every byte. With the hash on the pool,
 * a cold pull of the bench's real image from a directory (4 interleaved pairs, frames decoded
 * whole: compression.ts `decodeInto`): stream phase
 * 2.38 s instead of 2.60 (lz4), 1.74 s instead of 2.03 (stored as is); start to loaded 7.78 s
 * instead of 8.32, 7.30 s instead of 7.81. Push and verify keep `streamHash`: on 2 cores the
 * pool's hash competed with push's encoding thread (3 of 3 pairs 0.2-0.5 s slower), and verify
 * held 17 MiB more of its pool's buffers. Our own hashing thread sped a pull up too, but cost
 * it 17-22 MiB of peak RSS (98 -> 115-121 MiB), which the 128 MiB bound on a 4 GiB pull
 * (109 MiB) cannot spare.
 */
export function offloadedHash(): StreamHash {
  return (availableParallelism() > 1 ? nativeHash() : null) ?? streamHash();
}

/** A stream hash on the hashing thread, whatever the cores. */
export function threadHash(): StreamHash {
  return HashThread.shared().open();
}

/** Messages to the hashing thread. */
type ToHashThread =
  | { readonly op: 'update'; readonly id: number; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly op: 'digest'; readonly id: number }
  | { readonly op: 'drop'; readonly id: number };
type FromHashThread =
  | { readonly op: 'free'; readonly buffer: ArrayBuffer }
  | { readonly op: 'digest'; readonly id: number; readonly hex: string };

/**
 * The hashing thread: hashes batches in the order they arrive, hands each batch's buffer back
 * for reuse, and answers a digest when a stream ends. Inline, so that bundling the library
 * needs no separate worker file.
 */
const THREAD_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const hashes = new Map();
parentPort.on('message', (message) => {
  if (message.op === 'update') {
    let hash = hashes.get(message.id);
    if (!hash) hashes.set(message.id, (hash = createHash('sha256')));
    hash.update(new Uint8Array(message.buffer, 0, message.length));
    parentPort.postMessage({ op: 'free', buffer: message.buffer }, [message.buffer]);
  } else if (message.op === 'digest') {
    parentPort.postMessage({ op: 'digest', id: message.id, hex: (hashes.get(message.id) ?? createHash('sha256')).digest('hex') });
    hashes.delete(message.id);
  } else if (message.op === 'drop') {
    hashes.delete(message.id);
  }
});
`;

/** Bytes copied into one message to the thread, whose buffer it then gives back for reuse. */
const BATCH = 1024 * 1024;
/** Batches on their way or being hashed before updates ask their callers to wait. */
const MAX_IN_FLIGHT = 8;

class LocalHash implements StreamHash {
  private readonly hash = createHash('sha256');

  update(chunk: Buffer): undefined {
    this.hash.update(chunk);
  }

  async digest(): Promise<string> {
    return this.hash.digest('hex');
  }

  discard(): void {}
}

/**
 * One worker thread for every stream hash of the process. Chunks are copied into 1 MiB batch
 * buffers whose memory moves to the thread and back (transferred, not copied), so the
 * steady state allocates nothing. The thread keeps the process alive only while somebody
 * awaits it.
 */
class HashThread {
  private static instance: HashThread | undefined;

  static shared(): HashThread {
    HashThread.instance ??= new HashThread();
    return HashThread.instance;
  }

  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private inFlight = 0;
  private nextId = 0;
  private readonly digests = new Map<number, { resolve(hex: string): void; reject(error: Error): void }>();
  private backlogWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  private failure: Error | undefined;
  /** Promises waiting on the thread: while there are any, it keeps the process alive. */
  private waiting = 0;

  private constructor() {
    // No inherited flags: the source is a CommonJS script whatever the parent runs with.
    this.worker = new Worker(THREAD_SOURCE, { eval: true, execArgv: [] });
    this.worker.on('message', (message: FromHashThread) => this.receive(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the thread again.
    this.worker.unref();
  }

  open(): StreamHash {
    return new ThreadHash(this, this.nextId++);
  }

  /** A batch buffer: a returned one, or a new one. */
  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(BATCH);
  }

  give(buffer: ArrayBuffer): void {
    this.free.push(buffer);
  }

  send(id: number, buffer: ArrayBuffer, length: number): void {
    if (this.failure) throw this.failure;
    this.inFlight++;
    this.worker.postMessage({ op: 'update', id, buffer, length } satisfies ToHashThread, [buffer]);
  }

  /** A promise while too many batches are in flight: the caller should wait for it. */
  backlog(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return this.awaited(new Promise<void>((resolve, reject) => this.backlogWaiters.push({ resolve, reject })));
  }

  digest(id: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const answer = new Promise<string>((resolve, reject) => this.digests.set(id, { resolve, reject }));
    this.worker.postMessage({ op: 'digest', id } satisfies ToHashThread);
    return this.awaited(answer);
  }

  drop(id: number): void {
    if (!this.failure) this.worker.postMessage({ op: 'drop', id } satisfies ToHashThread);
  }

  private receive(message: FromHashThread): void {
    if (message.op === 'free') {
      this.inFlight--;
      this.give(message.buffer);
      if (this.inFlight <= MAX_IN_FLIGHT / 2) {
        const waiters = this.backlogWaiters;
        this.backlogWaiters = [];
        for (const waiter of waiters) waiter.resolve();
      }
      return;
    }
    this.digests.get(message.id)?.resolve(message.hex);
    this.digests.delete(message.id);
  }

  /** Keep the process alive while `promise` waits on the thread. */
  private awaited<T>(promise: Promise<T>): Promise<T> {
    this.waiting++;
    this.worker.ref();
    return promise.finally(() => {
      if (--this.waiting === 0) this.worker.unref();
    });
  }

  private fail(error: Error): void {
    this.failure ??= new DogestryError(`the sha256 hashing thread failed (${error.message}): nothing was committed; try again`, {
      cause: error,
      retryable: true,
    });
    if (HashThread.instance === this) HashThread.instance = undefined;
    for (const { reject } of this.digests.values()) reject(this.failure);
    this.digests.clear();
    for (const { reject } of this.backlogWaiters) reject(this.failure);
    this.backlogWaiters = [];
  }
}

class ThreadHash implements StreamHash {
  private batch: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly thread: HashThread,
    private readonly id: number,
  ) {}

  update(chunk: Buffer): Promise<void> | undefined {
    for (let at = 0; at < chunk.length; ) {
      this.batch ??= Buffer.from(this.thread.take());
      const copied = chunk.copy(this.batch, this.filled, at);
      this.filled += copied;
      at += copied;
      if (this.filled === BATCH) this.flush();
    }
    return this.thread.backlog();
  }

  async digest(): Promise<string> {
    if (this.filled > 0) this.flush();
    return this.thread.digest(this.id);
  }

  discard(): void {
    if (this.batch) this.thread.give(this.batch.buffer as ArrayBuffer);
    this.batch = undefined;
    this.thread.drop(this.id);
  }

  private flush(): void {
    const batch = this.batch as Buffer;
    this.batch = undefined;
    const length = this.filled;
    this.filled = 0;
    this.thread.send(this.id, batch.buffer as ArrayBuffer, length);
  }
}
