import { Readable } from 'node:stream';
import { DogestryError } from './errors.js';

/**
 * Yield the bytes of `first`; when its connection drops, ask `reopen` for the rest from the
 * current offset (a `Range` request) and go on, up to `tries` times. `giveUp` turns the last
 * failure into the error to throw. DogestryErrors (auth, a server that ignores Range) are
 * final and pass straight through. Transports use it to implement `Remote.read`.
 */
export async function* resumingRead(
  first: AsyncIterable<Buffer>,
  start: number,
  reopen: (offset: number) => Promise<AsyncIterable<Buffer> | undefined>,
  giveUp: (error: unknown, offset: number) => Error,
  tries = 5,
): AsyncGenerator<Buffer> {
  let body: AsyncIterable<Buffer> | undefined = first;
  let offset = start;
  for (let resumes = 0; ; ) {
    try {
      for await (const chunk of body) {
        offset += chunk.length;
        yield chunk;
      }
      return;
    } catch (error) {
      if (error instanceof DogestryError || ++resumes > tries) throw giveUp(error, offset);
      await new Promise((resolve) => setTimeout(resolve, 100 * resumes));
      body = await reopen(offset);
      if (!body) throw giveUp(new Error('the object vanished while being read'), offset);
    }
  }
}

/**
 * `resumingRead` as the stream a transport's `read` answers. A stream destroyed before it is
 * read (a write that failed before taking its body) never starts the generator, which alone
 * would let go of `first`: here `first` goes too, or its response stays open and the
 * transport's close waits for it for good (a push to Apache exited 13 with nothing said).
 */
export function resumingBody(
  first: AsyncIterable<Buffer>,
  start: number,
  reopen: (offset: number) => Promise<AsyncIterable<Buffer> | undefined>,
  giveUp: (error: unknown, offset: number) => Error,
  tries?: number,
): Readable {
  const body = Readable.from(resumingRead(first, start, reopen, giveUp, tries));
  body.once('close', () => (first as { destroy?: () => void }).destroy?.());
  return body;
}
