import { blobReadFailure, missingBlob } from './blob-read.js';
import { decodeInto } from './compression.js';
import type { BlobReader } from './docker/load-tar.js';
import { DigestMismatchError } from './errors.js';
import { blobKey } from './format.js';
import { bytesPassed } from './memory.js';
import { type ProgressListener, progressCounter } from './progress.js';
import type { Remote } from './remote.js';
import { streamHash } from './sha256.js';
import { both } from './streams.js';

/** Decoded bytes held for the load before decoding waits for it. */
const AHEAD = 4 * 1024 * 1024;

/**
 * A layer streamed from a remote whose reads cost what a local file's do (a directory) into
 * one load, with no cache copy: read, decoded and hashed as the load tar asks for it, so
 * nothing is written to disk but by the engine. The cache's guarantee holds (cache.ts): the
 * reader hands over all but the layer's last byte as it decodes, and the last byte only once
 * every byte hashed to the diffID and the size matched; a layer that fails fails the read,
 * which cuts the load, and an engine discards a load cut short.
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

  constructor(
    private readonly remote: Remote,
    readonly hex: string,
    readonly size: number,
    private readonly emit?: ProgressListener,
    stop?: AbortSignal,
  ) {
    stop?.addEventListener('abort', () => this.stopped.abort(stop.reason), { once: true });
  }

  /** Why the layer failed, unless the load stopped reading it first: then the load's failure is the cause. */
  get cause(): Error | undefined {
    return this.closedEarly ? undefined : this.failure;
  }

  /** The reader for the load: read once, from the start, in order. */
  reader(): BlobReader {
    return {
      read: (position, length) => this.read(position, length),
      close: async () => {
        // The load stopped early (it failed elsewhere): stop reading the remote.
        if (this.verified) return;
        this.closedEarly = true;
        this.stopped.abort(new Error('the load stopped reading this layer'));
      },
    };
  }

  private async read(position: number, length: number): Promise<Buffer> {
    if (position !== this.position) throw new RangeError('a direct layer is read once, from the start, in order');
    if (!this.started) this.start();
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
        bytesPassed(n);
        if (this.queued < AHEAD) this.wake('decoder');
        return n === head.length ? head : head.subarray(0, n);
      }
      if (this.verified && position >= this.size) throw new RangeError(`read at ${position} past the end of sha256:${this.hex}`);
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }

  private start(): void {
    this.started = true;
    this.stream().then(
      () => {
        this.verified = true;
        this.wake('reader');
      },
      (error: Error) => {
        this.failure = error;
        this.wake('reader');
      },
    );
  }

  private async stream(): Promise<void> {
    const diffId = `sha256:${this.hex}`;
    const key = blobKey(this.hex);
    this.stopped.signal.throwIfAborted();
    this.emit?.({ type: 'layer-start', diffId, size: this.size });
    const body = await this.remote.read(key);
    if (!body) throw missingBlob(key, this.remote.url);
    const onStop = () => {
      body.destroy(this.stopped.signal.reason);
      this.wake('decoder');
    };
    if (this.stopped.signal.aborted) onStop();
    this.stopped.signal.addEventListener('abort', onStop, { once: true });
    const hash = streamHash();
    const progress = progressCounter(this.emit, diffId, this.size);
    let decoded = 0;
    try {
      this.bytes = await decodeInto(body, (chunk) => {
        this.stopped.signal.throwIfAborted();
        decoded += chunk.length;
        if (decoded > this.size) throw new DigestMismatchError(key, diffId, `more than the ${this.size} bytes recorded`);
        const hashing = hash.update(chunk);
        progress(chunk.length);
        this.queue.push(chunk);
        this.queued += chunk.length;
        this.wake('reader');
        return both(hashing, this.queued < AHEAD ? undefined : new Promise<void>((resolve) => (this.wakeDecoder = resolve)));
      });
    } catch (error) {
      hash.discard();
      throw blobReadFailure(this.stopped.signal.reason ?? error, key, this.remote.url, this.hex);
    } finally {
      this.stopped.signal.removeEventListener('abort', onStop);
    }
    const digest = `sha256:${await hash.digest()}`;
    if (digest !== diffId || decoded !== this.size)
      throw new DigestMismatchError(key, diffId, decoded === this.size ? digest : `${decoded} of ${this.size} bytes`);
    this.emit?.({ type: 'layer-done', diffId, bytes: this.bytes, size: this.size, result: 'downloaded' });
  }

  private wake(who: 'reader' | 'decoder'): void {
    const resolve = who === 'reader' ? this.wakeReader : this.wakeDecoder;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeDecoder = undefined;
    resolve?.();
  }
}
