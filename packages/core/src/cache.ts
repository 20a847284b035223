import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { decodeInto } from './compression.js';
import { DigestMismatchError, DogestryError, NotFoundError, TransportError } from './errors.js';
import { blobKey } from './format.js';
import { type ProgressListener, progressCounter } from './progress.js';
import type { Remote } from './remote.js';

/** `$XDG_CACHE_HOME/dogestry`, else `~/.cache/dogestry`. */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'dogestry');
}

/**
 * Decoded, verified blobs on local disk, by digest: a second pull (or a second engine in the
 * same pull) downloads nothing. A file appears under its digest only after its bytes hashed
 * to it, so the cache never holds a corrupt blob at a final path.
 */
export class BlobCache {
  constructor(readonly dir: string) {}

  path(hex: string): string {
    return join(this.dir, 'blobs', 'sha256', hex);
  }

  async size(hex: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(hex))).size;
    } catch {
      return undefined;
    }
  }

  open(hex: string): Readable {
    return createReadStream(this.path(hex), { highWaterMark: 1024 * 1024 });
  }

  /**
   * Make sure the blob is cached: download, decode and verify it unless it is already here.
   * Answers whether it was downloaded, and the stored bytes read from the remote.
   */
  async fetch(remote: Remote, hex: string, emit?: ProgressListener, size?: number): Promise<{ downloaded: boolean; bytes: number }> {
    if ((await this.size(hex)) !== undefined) return { downloaded: false, bytes: 0 };
    const key = blobKey(hex);
    const body = await remote.read(key);
    if (!body)
      throw new NotFoundError(
        `${key} is missing on ${remote.url}: the repository is incomplete; run \`dogestry verify\` and push the image again`,
      );
    const tmpDir = join(this.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const hash = createHash('sha256');
    const progress = progressCounter(emit, `sha256:${hex}`, size);
    const out = createWriteStream(tmp, { highWaterMark: 4 * 1024 * 1024 });
    const written = finished(out);
    written.catch(() => {}); // awaited below, or raced while writing
    let stored: number;
    try {
      stored = await decodeInto(body, (chunk) => {
        hash.update(chunk);
        progress(chunk.length);
        return out.write(chunk) ? undefined : Promise.race([once(out, 'drain').then(() => {}), written]);
      });
      out.end();
      await written;
    } catch (error) {
      out.destroy();
      await rm(tmp, { force: true });
      if (error instanceof DogestryError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code?.startsWith('E'))
        throw new TransportError(`reading ${key} from ${remote.url} failed: ${(error as Error).message}`, {
          cause: error,
          retryable: true,
        });
      // Bytes that do not decode (zlib Z_* errors, lz4 frame errors) are corrupt bytes.
      throw new DigestMismatchError(key, `sha256:${hex}`, `undecodable content (${(error as Error).message})`);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest !== `sha256:${hex}`) {
      await rm(tmp, { force: true });
      throw new DigestMismatchError(key, `sha256:${hex}`, digest);
    }
    await rename(tmp, this.path(hex));
    return { downloaded: true, bytes: stored };
  }
}
