import type { IncomingMessage } from 'node:http';

/**
 * A request body, whole, of at most `limit` bytes: past it, `tooBig()` is thrown and the rest is
 * left unread (the connection stays, so the error can still be answered).
 */
export async function readBody(request: IncomingMessage, limit: number, tooBig: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooBig();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
