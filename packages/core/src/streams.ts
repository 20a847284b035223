import type { Readable } from 'node:stream';
import { FormatError } from './errors.js';

/** Collect a stream that is known to be small; refuse it past `limit` bytes. */
export async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw new FormatError(`object larger than the ${limit}-byte limit for metadata`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Read a stream to its end, discarding the bytes. */
export async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}
