import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteStage } from './compression.js';
import type { Remote, WriteOptions } from './remote.js';

/**
 * Stream `source` through `stages` into `remote.write(key)`. A stage that throws (a digest
 * check) fails the write, so the transport leaves nothing at `key`; a failed write fails the
 * source. Either way the promise rejects with the first error.
 */
export async function writeThrough(
  remote: Remote,
  key: string,
  source: Readable | AsyncIterable<Buffer>,
  stages: readonly ByteStage[],
  options: WriteOptions = {},
): Promise<'written' | 'exists'> {
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const piping = (pipeline as (...args: unknown[]) => Promise<void>)(source, ...stages, body);
  const writing = remote.write(key, body, options);
  // Whichever fails first decides; the other is silenced and torn down.
  piping.catch((error) => body.destroy(error as Error));
  writing.catch((error) => body.destroy(error as Error));
  const [result] = await Promise.all([writing, piping]);
  return result;
}
