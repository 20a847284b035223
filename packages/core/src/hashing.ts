import { createHash, type Hash } from 'node:crypto';
import { DigestMismatchError } from './errors.js';

/** Running sha256 and byte count of what passes through a stage. */
export class Digester {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private hex: string | undefined;

  /** A pipeline stage that hashes and counts, passing bytes on unchanged. */
  readonly stage = async function* (this: Digester, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      yield chunk;
    }
    this.hex = this.hash.digest('hex');
  }.bind(this);

  /** The digest; only after the stage has ended. */
  get digest(): string {
    if (this.hex === undefined) throw new Error('digest read before the stream ended');
    return `sha256:${this.hex}`;
  }
}

/**
 * A stage that fails the stream at its end unless the bytes hash to `expectedHex`. Placed
 * before a write, it makes the write fail, so nothing unverified is ever committed.
 */
export function verifyingStage(key: string, expectedHex: string): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    const hash = createHash('sha256');
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
    const actual = hash.digest('hex');
    if (actual !== expectedHex) throw new DigestMismatchError(key, `sha256:${expectedHex}`, `sha256:${actual}`);
  };
}

/** Counts what passes through a stage, without hashing it. */
export class ByteCounter {
  bytes = 0;
  readonly stage = async function* (this: ByteCounter, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.bytes += chunk.length;
      yield chunk;
    }
  }.bind(this);
}
