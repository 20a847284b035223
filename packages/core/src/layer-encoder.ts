import { Readable } from 'node:stream';
import { type Compression, createEncoder, type Encoder } from './compression.js';
import { DigestMismatchError } from './errors.js';
import { bytesPassed, type Garbage } from './memory.js';
import { type StreamHash, streamHash } from './sha256.js';
import { both, pump } from './streams.js';

/**
 * Bytes the body holds before the encoder waits for its reader. Little enough that what the
 * body holds (raw segments are views of the engine's chunks) is let go before two minor GCs
 * (memory.ts) pass, so it never reaches the old generation and push needs few full GCs.
 * Pushing to a directory, the synthetic 1 GiB image (mostly random: stored raw) peaked at
 * 147-148 MiB with 8 MiB here and the full GCs of young bytes, 115 with 2 MiB (123-126 with
 * 8 MiB and a full GC per 16 MiB, as before); the real image pushed with 0.7-1.5 s less CPU.
 */
const BODY_BUFFER = 2 * 1024 * 1024;
const PROGRESS_EVERY = 8 * 1024 * 1024;

/**
 * One layer on its way to a remote: takes the layer's uncompressed tar chunk by chunk, hashes
 * and counts it, and offers its stored form as `body`, the stream a transport's `write` reads.
 * Work per chunk is synchronous (hash, count, hand to the encoder); the caller waits only when
 * the encoder or the body's reader is behind.
 *
 * The body ends only after the digest is known and checked, so a layer that fails its check
 * makes the transport's write fail: nothing unverified is ever committed.
 */
export class LayerEncoder {
  readonly body: Readable;
  /** Uncompressed bytes written so far. */
  bytes = 0;
  /** Encoded bytes handed to `body` so far. */
  storedBytes = 0;
  private readonly hash: StreamHash = streamHash();
  private readonly encoder: Encoder;
  /** What the chunks leave behind (memory.ts): lz4 copies them to its thread at once. */
  private readonly garbage: Garbage;
  private nextProgress = PROGRESS_EVERY;
  private resumeBody: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(
    compression: Compression,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    this.body = new Readable({
      highWaterMark: BODY_BUFFER,
      read: () => this.wakeBody(),
      destroy: (error, callback) => {
        // The reader gave up (a failed upload) or abort() was called: wake a waiting writer.
        this.failure ??= error ?? new Error('the layer body was closed before it ended');
        this.wakeBody();
        callback(error);
      },
    });
    this.encoder = createEncoder(compression, (stored) => this.toBody(stored));
    this.garbage = compression === 'lz4' ? 'brief' : 'young';
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    const hashing = this.hash.update(chunk);
    this.bytes += chunk.length;
    bytesPassed(chunk.length, this.garbage);
    if (this.onProgress && this.bytes >= this.nextProgress) {
      this.nextProgress = this.bytes + PROGRESS_EVERY;
      this.onProgress(this.bytes);
    }
    return both(hashing, this.encoder.write(chunk));
  }

  /**
   * Every byte is in: check the digest against `expected` (`sha256:<hex>`) if given, then flush
   * the encoder and end the body. Answers the digest. On a mismatch the body fails instead.
   */
  async end(expected?: { digest: string; key: string }): Promise<string> {
    // The encoder flushes while the hash finishes; only the body's end waits for the check.
    const flushed = this.encoder.end();
    flushed.catch(() => {}); // awaited below, once the digest is checked
    let digest: string;
    try {
      digest = `sha256:${await this.hash.digest()}`;
    } catch (error) {
      this.abort(error as Error);
      throw error;
    }
    if (expected && digest !== expected.digest) {
      const error = new DigestMismatchError(expected.key, expected.digest, digest);
      this.abort(error);
      throw error;
    }
    await flushed;
    if (this.failure) throw this.failure;
    this.body.push(null);
    return digest;
  }

  /** Fail the body (the transport's write then fails and leaves nothing) and any waiting writer. */
  abort(error: Error): void {
    this.failure ??= error;
    this.hash.discard();
    this.body.destroy(error);
  }

  private toBody(stored: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    this.storedBytes += stored.length;
    if (this.body.push(stored)) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.resumeBody = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  private wakeBody(): void {
    const resume = this.resumeBody;
    this.resumeBody = undefined;
    resume?.();
  }
}

/**
 * Feed a whole stream (an upload from a spool file) to `writer`, honouring its backpressure;
 * if the source fails, the writer is aborted so its transport write leaves nothing.
 */
export async function encodeStream(source: AsyncIterable<Buffer>, writer: Pick<LayerEncoder, 'write' | 'abort'>): Promise<void> {
  try {
    await pump(source, (chunk) => writer.write(chunk));
  } catch (error) {
    writer.abort(error as Error);
    throw error;
  }
}
