import { readDecoded } from './blob-read.js';
import type { BufferPool } from './buffer-pool.js';
import type { BlobReader } from './docker/load-tar.js';
import { bytesPassed } from './memory.js';
import type { ProgressListener } from './progress.js';
import type { Remote } from './remote.js';

/** Decoded bytes held for the load before decoding waits for it. */
const AHEAD = 4 * 1024 * 1024;

/**
 * A layer streamed from a remote into one load, with no cache copy: read, decoded and hashed
 * as the load tar asks for it, so nothing is written to disk but by the engine, and only
 * AHEAD decoded bytes wait in memory. The cache's guarantee holds (cache.ts): the
 * reader hands over all but the layer's last byte as it decodes, and the last byte only once
 * every byte hashed to the diffID and the size matched; a layer that fails fails the read,
 * which cuts the load, and an engine discards a load cut short.
 *
 * Decoded blocks come in buffers of `pool`, which the engine's request writer gives back once
 * its socket wrote them (buffer-pool.ts): a pull then leaves next to no garbage behind.
 */
export class DirectLayer {
  /** Stored bytes read from the remote, once the layer is through. */
  bytes = 0;
  private failure: Error | undefined;
  private closedEarly = false;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private position = 0;
  private verified = false;
  private started = false;
  private readonly stopped = new AbortController();
  private wakeReader: (() => void) | undefined;
  private wakeDecoder: (() => void) | undefined;
  private next: DirectLayer | undefined;

  constructor(
    private readonly remote: Remote,
    readonly hex: string,
    readonly size: number,
    private readonly emit?: ProgressListener,
    stop?: AbortSignal,
    private readonly pool?: BufferPool,
  ) {
    stop?.addEventListener('abort', () => this.stopped.abort(stop.reason), { once: true });
  }

  /**
   * Start `next` once this layer is read and verified, before the load asks for
   * it: its request's round trip, and its first AHEAD decoded bytes, overlap the end of this
   * layer's load instead of following it.
   */
  followedBy(next: DirectLayer): void {
    this.next = next;
  }

  /** Why the layer failed, unless the load stopped reading it first: then the load's failure is the cause. */
  get cause(): Error | undefined {
    return this.closedEarly ? undefined : this.failure;
  }

  /** The reader for the load: read once, from the start, in order. */
  reader(): BlobReader {
    return {
      read: (position, length) => this.read(position, length),
      close: async () => this.abandon(),
    };
  }

  /** The load stopped early, or never got here (it failed elsewhere): stop reading the remote. */
  abandon(): void {
    if (this.verified) return;
    this.closedEarly = true;
    this.stopped.abort(new Error('the load stopped reading this layer'));
  }

  private async read(position: number, length: number): Promise<Buffer> {
    if (position !== this.position) throw new RangeError('a direct layer is read once, from the start, in order');
    this.start();
    for (;;) {
      if (this.failure) throw this.failure;
      // The last byte waits for verification.
      const end = Math.min(position + length, this.verified ? this.size : this.size - 1);
      if (this.queued > 0 && end > position) {
        const head = this.queue[0] as Buffer;
        const n = Math.min(head.length, end - position);
        if (n === head.length) this.queue.shift();
        else this.queue[0] = head.subarray(n);
        this.queued -= n;
        this.position += n;
        // Each chunk, a pool's decoded block or the read's own (a layer stored as is), lives only
        // until the engine's socket wrote it: young garbage (memory.ts).
        bytesPassed(n, 'young');
        if (this.queued < AHEAD) this.wake('decoder');
        return n === head.length ? head : head.subarray(0, n);
      }
      if (this.verified && position >= this.size) throw new RangeError(`read at ${position} past the end of sha256:${this.hex}`);
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.stream().then(
      () => {
        this.verified = true;
        this.wake('reader');
        this.next?.start();
      },
      (error: Error) => {
        this.failure = error;
        this.wake('reader');
      },
    );
  }

  private async stream(): Promise<void> {
    const diffId = `sha256:${this.hex}`;
    this.stopped.signal.throwIfAborted();
    this.emit?.({ type: 'layer-start', diffId, size: this.size });
    // A decoder waiting for the load is let go when the load stops reading.
    this.stopped.signal.addEventListener('abort', () => this.wake('decoder'), { once: true });
    const take = (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.wake('reader');
      return this.queued < AHEAD ? undefined : new Promise<void>((resolve) => (this.wakeDecoder = resolve));
    };
    const { stored } = await readDecoded(this.remote, this.hex, this.size, take, {
      emit: this.emit,
      stop: this.stopped.signal,
      pool: this.pool,
    });
    this.bytes = stored;
    this.emit?.({ type: 'layer-done', diffId, bytes: stored, size: this.size, result: 'downloaded' });
  }

  private wake(who: 'reader' | 'decoder'): void {
    const resolve = who === 'reader' ? this.wakeReader : this.wakeDecoder;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeDecoder = undefined;
    resolve?.();
  }
}
