import { createHash, type Hash } from 'node:crypto';

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
