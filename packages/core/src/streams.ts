import { Readable } from 'node:stream';
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

/**
 * Hand every chunk of `source` to `take`, waiting whenever `take` answers a promise. A Node
 * stream is read through 'data' events, paused while `take` waits: async iteration costs
 * more there, concatenating whatever is buffered on every read.
 */
export async function pump(source: AsyncIterable<Buffer>, take: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  if (!(source instanceof Readable)) {
    for await (const chunk of source) await take(chunk);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    let waiting: Promise<void> | undefined;
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      source.off('data', onData);
      source.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      try {
        const wait = take(chunk);
        if (!wait) return;
        source.pause();
        waiting = wait.then(
          () => {
            waiting = undefined;
            if (!failed) source.resume();
          },
          (error: Error) => fail(error),
        );
      } catch (error) {
        fail(error as Error);
      }
    };
    source.on('data', onData);
    source.once('error', fail);
    source.once('end', () => {
      Promise.resolve(waiting).then(() => {
        if (!failed) resolve();
      });
    });
  });
}

/** Wait for whichever of two optional backpressure promises there are. */
export function both(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> | undefined {
  if (!a) return b;
  if (!b) return a;
  return Promise.all([a, b]).then(() => {});
}
