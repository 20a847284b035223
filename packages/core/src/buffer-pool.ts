import type { Readable, Writable } from 'node:stream';

/**
 * Buffers lent to a stream and given back once its socket has written them. A cold pull from a
 * directory decodes ~700 MiB of blocks on its way to the engine's load: each decoded block in a
 * fresh buffer, it made garbage that only full GCs freed (the blocks wait in the load's queue
 * long enough to leave V8's young generation): 43 of them at ~10 ms each on the bench's real
 * image. Decoded into these instead, a block's memory comes back when the engine's socket has
 * taken its bytes; ten 1 MiB buffers carry the whole pull.
 *
 * A buffer is given back only by `written` (the engine's request writer calls it from each
 * write's callback, which the socket runs once it no longer needs the bytes) and only when the
 * view written ends where the lent bytes end: a stream writes a buffer's views in order, so the
 * last one written means all were. A buffer never written that far (a failed load, a view
 * dropped) is not given back: the GC frees it as before, and the pool makes a new one. Whoever
 * else reads a lent view after passing it on (the hash, on libuv's thread pool:
 * sha256-native.ts) `hold`s it until done, and the buffer goes back only once all have `release`d.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** Buffers this pool has made (they are as many as were ever lent at once). */
  made = 0;

  constructor(readonly size: number) {}

  /** `length` bytes of a lent buffer, or undefined when `length` is more than the pool's size. */
  take(length: number): Buffer | undefined {
    if (length > this.size) return undefined;
    let whole = this.free.pop();
    if (!whole) {
      // A buffer of its own (not a slice of node's shared pool): its ArrayBuffer names the loan.
      whole = Buffer.allocUnsafeSlow(this.size);
      this.made++;
    }
    loans.set(whole.buffer, { pool: this, whole, end: length, holds: 0, written: false });
    return whole.subarray(0, length);
  }

  /** How many buffers are back, ready to lend again. */
  get available(): number {
    return this.free.length;
  }

  giveBack(whole: Buffer): void {
    this.free.push(whole);
  }
}

interface Loan {
  readonly pool: BufferPool;
  readonly whole: Buffer;
  /** Where the lent bytes end in the buffer. */
  readonly end: number;
  /** Readers still to `release` it. */
  holds: number;
  /** The view that ends the loan was written. */
  written: boolean;
}

const loans = new WeakMap<ArrayBufferLike, Loan>();

/** Whether `chunk` is (a view of) a buffer lent by a pool and not yet given back. */
export function lent(chunk: Uint8Array): boolean {
  return loans.has(chunk.buffer);
}

/** `chunk`'s bytes are written and will not be read again: give its buffer back if they end a loan nobody holds. */
export function written(chunk: Uint8Array): void {
  const loan = loans.get(chunk.buffer);
  if (!loan || chunk.byteOffset + chunk.length !== loan.end) return;
  loan.written = true;
  settle(loan);
}

/** `chunk` will be read after it is passed on: if it is lent, its buffer is not given back until `release`d. */
export function hold(chunk: Uint8Array): void {
  const loan = loans.get(chunk.buffer);
  if (loan) loan.holds++;
}

/** The reader that `hold`s `chunk` is done with it. */
export function release(chunk: Uint8Array): void {
  const loan = loans.get(chunk.buffer);
  if (!loan) return;
  loan.holds--;
  settle(loan);
}

function settle(loan: Loan): void {
  if (!loan.written || loan.holds > 0) return;
  loans.delete(loan.whole.buffer);
  loan.pool.giveBack(loan.whole);
}

/**
 * `source.pipe(destination)`, except that every chunk is passed to `written` once the
 * destination's write of it succeeded, so that lent buffers go back to their pool. (A failed
 * write gives nothing back: whether the socket still holds its bytes is not known.)
 */
export function pipeGivingBack(source: Readable, destination: Writable): void {
  source.on('data', (chunk: Buffer) => {
    const more = destination.write(chunk, (error) => {
      if (!error) written(chunk);
    });
    if (!more) {
      source.pause();
      destination.once('drain', () => source.resume());
    }
  });
  source.once('end', () => destination.end());
}
