import { createHash, type Hash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { type CompressedSource, readDecoded } from './blob-read.js';
import type { BlobReader } from './docker/load-tar.js';
import { CacheCorruptError, CacheError, DogestryError } from './errors.js';
import type { ByteOutput } from './framed-codec.js';
import type { ProgressListener } from './progress.js';
import { RecentBytes } from './recent-bytes.js';
import type { Remote } from './remote.js';

/**
 * The newest bytes of a download kept in memory for its readers. A load that keeps up takes
 * them from there instead of reading the file back, and the download waits while its
 * furthest reader is more than half of this behind, rather than race ahead into the file
 * while the load falls back to reading it (which it did: the load lagged up to 460 MB behind).
 * A cold pull of the real image from radosgw, 4 interleaved runs: 1.25 s of system time
 * instead of 2.18 (medians), its load tar done at 5.46 s instead of 6.04, in 11.48 s instead
 * of 12.55, peak RSS 175-186 MiB against 173-181.
 */
const RECENT_WINDOW = 4 * 1024 * 1024;

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

  /** Make the cache's directories. */
  async prepare(): Promise<void> {
    try {
      await mkdir(join(this.dir, 'tmp'), { recursive: true });
      await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    } catch (error) {
      throw this.failed(error as Error, 'create');
    }
  }

  /**
   * The size of the blob cached under `hex`, if one is there (its hash is checked as it is
   * read); `size`, where known, is the size it must have. A file of another size is damaged:
   * it is removed, and `emit` told.
   */
  async held(hex: string, size?: number, emit?: ProgressListener): Promise<number | undefined> {
    const found = await stat(this.path(hex)).catch(() => undefined);
    if (!found || size === undefined || found.size === size) return found?.size;
    emit?.({ type: 'repair', key: this.path(hex), reason: `cached blob is ${found.size} bytes, not ${size}` });
    await this.evict(hex);
    return undefined;
  }

  /** Remove a blob found damaged. */
  async evict(hex: string): Promise<void> {
    await rm(this.path(hex), { force: true });
  }

  /** A local failure of the cache (disk full, permissions), told apart from the remote's. */
  failed(error: Error, what: string): CacheError {
    const code = (error as NodeJS.ErrnoException).code;
    const advice =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'free space there (`dogestry cache prune --max-size 10G`), or give another --cache-dir'
        : 'check that directory, or give another --cache-dir';
    return new CacheError(`the pull cache at ${this.dir} failed to ${what}: ${error.message}; ${advice}`, { cause: error });
  }

  /**
   * A blob of `size` decoded bytes, to be fetched into the cache and read while it arrives.
   * `compressed`: the layer is stored as a gzip or zstd blob under its compressed digest (a
   * registry client pushed it): that blob is fetched, checked against its own digest, and
   * decompressed; the tar's size is known only once it is cached.
   */
  fill(hex: string, size: number | undefined, compressed?: CompressedSource): CacheFill {
    return new CacheFill(this, hex, size, compressed);
  }
}

/**
 * One blob on its way into the cache. `fetch` downloads, decodes and verifies it into a
 * temporary file, renamed to its digest once verified; `reader()`s follow the download as it
 * arrives (from memory while they keep up, else from the file), so a load can stream the blob
 * while it downloads. A reader gets the blob's last byte only after the blob is verified, and
 * fails if the blob fails.
 */
export class CacheFill {
  private readonly tmp: string;
  /** Found in the cache rather than downloaded: readers check its hash. */
  private fromCache = false;
  /** Bytes the file holds (written through); `recent.end` is bytes handed to it. */
  private written = 0;
  private readonly recent = new RecentBytes(RECENT_WINDOW);
  /** Open readers, by how far each has read: the download paces itself by the furthest. */
  private readonly readers = new Set<{ at: number }>();
  /** Resolves the download's wait for a reader to move on. */
  private readerMoved: (() => void) | undefined;
  private verified = false;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  private length: number | undefined;

  constructor(
    private readonly cache: BlobCache,
    readonly hex: string,
    size: number | undefined,
    private readonly compressed?: CompressedSource,
  ) {
    this.tmp = join(cache.dir, 'tmp', randomUUID());
    this.length = size;
  }

  /** Whether the decoded size is known before the fill (not for a compressed source, until it is cached). */
  get sizeKnown(): boolean {
    return this.length !== undefined;
  }

  /** The decoded size: known from the start, or once `fetch` has cached a compressed source. */
  get size(): number {
    if (this.length === undefined) throw new RangeError(`the size of sha256:${this.hex} is known only once it is cached`);
    return this.length;
  }

  /**
   * Make sure the blob is cached: download, decode and verify it unless it is already there.
   * Answers whether it was downloaded, and the stored bytes read from the remote. `stop`
   * aborts the download (and fails the fill) with its reason.
   */
  async fetch(remote: Remote, emit?: ProgressListener, stop?: AbortSignal): Promise<{ downloaded: boolean; bytes: number }> {
    try {
      stop?.throwIfAborted();
      // A compressed source's tar (length not yet known) is as long as its cached copy, if any.
      const cached = await this.cache.held(this.hex, this.length, emit);
      if (cached !== undefined) {
        this.length = cached;
        // Its hash is checked as a load reads it (see reader), which reads every byte anyway.
        this.fromCache = true;
        this.settle();
        return { downloaded: false, bytes: 0 };
      }
      const bytes = await this.download(remote, emit, stop);
      this.settle();
      return { downloaded: true, bytes };
    } catch (error) {
      // Readers learn of the failure before the temporary file goes.
      this.settle(error as Error);
      await rm(this.tmp, { force: true }).catch(() => {});
      throw error;
    }
  }

  /**
   * A reader of the blob for a load, which reads it once from the start. A blob found in the
   * cache (not downloaded now) is hashed as it is read, and its last byte is handed over only
   * if it matches: a damaged cache file is evicted and fails the read with `CacheCorruptError`,
   * so pull fetches it again instead of blaming the engine.
   */
  reader(): BlobReader {
    let handle: FileHandle | undefined;
    // Known once the fill settles, which the first read waits for.
    let check: { hash: Hash; at: number } | undefined | null;
    const place = { at: 0 };
    this.readers.add(place);
    return {
      read: async (position, length) => {
        let chunk: Buffer | undefined;
        let want = 0;
        for (;;) {
          const most = Math.min(length, (await this.readableEnd(position, length)) - position);
          chunk = this.recent.at(position, most);
          if (chunk) break;
          // From the file: only what it holds (the window may have moved on since the wait,
          // past bytes the file does not have yet: then wait for the file), never the last
          // byte before the blob is verified.
          want = Math.min(most, (this.verified ? this.size : Math.min(this.written, this.size - 1)) - position);
          if (want > 0) break;
        }
        this.moved(place, position + (chunk?.length ?? want));
        if (!chunk) {
          check ??= this.fromCache ? { hash: createHash('sha256'), at: 0 } : null;
          handle ??= await this.openFile();
          const buffer = Buffer.allocUnsafe(want);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) throw new CacheCorruptError(`cache file for sha256:${this.hex} is shorter than written`);
          chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
        }
        if (check) {
          if (position !== check.at) throw new RangeError('cache readers read from the start, in order');
          check.hash.update(chunk);
          check.at += chunk.length;
          if (check.at === this.size && check.hash.digest('hex') !== this.hex) {
            await this.cache.evict(this.hex);
            throw new CacheCorruptError(
              `the cached copy of sha256:${this.hex} in ${this.cache.dir} is damaged: it was removed, and will be fetched again`,
            );
          }
        }
        return chunk;
      },
      close: async () => {
        // A reader gone (its load done or cut) holds the download back no longer.
        this.readers.delete(place);
        this.moved(place, 0);
        await handle?.close();
      },
    };
  }

  private async download(remote: Remote, emit: ProgressListener | undefined, stop: AbortSignal | undefined): Promise<number> {
    await this.cache.prepare();
    const out = createWriteStream(this.tmp, { highWaterMark: 4 * 1024 * 1024 });
    // A failure to write is the cache's (CACHE, exit 9), told apart from the remote's.
    const written = finished(out).catch((error: Error) => {
      throw error instanceof DogestryError ? error : this.cache.failed(error, `write sha256:${this.hex}`);
    });
    written.catch(() => {}); // awaited below, or raced while writing
    let drained: Promise<unknown> | undefined;
    const take: ByteOutput = (chunk) => {
      this.recent.push(chunk);
      this.wake();
      const more = out.write(chunk, (error) => {
        if (error) return;
        this.written += chunk.length;
        this.wake();
      });
      const ahead = this.aheadOfReaders();
      if (more && !ahead) return undefined;
      const waits: Promise<unknown>[] = [written];
      if (!more) waits.push((drained ??= once(out, 'drain').finally(() => (drained = undefined))));
      if (ahead) waits.push(new Promise<void>((resolve) => (this.readerMoved = resolve)));
      return Promise.race(waits).then(() => {});
    };
    try {
      const handedOn = () => {
        out.end();
        return written;
      };
      const { stored, size } = await readDecoded(remote, this.hex, this.length, take, {
        emit,
        stop,
        compressed: this.compressed,
        handedOn,
      });
      this.length = size;
      await rename(this.tmp, this.cache.path(this.hex)).catch((error: Error) => {
        throw this.cache.failed(error, `store sha256:${this.hex}`);
      });
      return stored;
    } catch (error) {
      out.destroy();
      throw error;
    }
  }

  /**
   * How far a reader at `position` may read, once `length` bytes are there (or all but the
   * last): a reader that has caught up with the download reads whole chunks, not every small
   * write. The last byte waits for verification. It waits for no more than the download may
   * run ahead of it (half the window), or each would wait for the other.
   */
  private async readableEnd(position: number, length: number): Promise<number> {
    const goal = Math.min(position + Math.min(length, RECENT_WINDOW / 2), this.size - 1);
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.verified) {
        if (position >= this.size) throw new RangeError(`read at ${position} past the end of sha256:${this.hex}`);
        return this.size;
      }
      // Bytes still in memory count once handed to the file; older ones once the file has them.
      const have = this.recent.holds(position) ? this.recent.end : this.written;
      if (goal > position && have >= goal) return Math.min(have, this.size - 1);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The temporary file while it exists, else the verified one (renamed meanwhile). */
  private async openFile(): Promise<FileHandle> {
    try {
      return await open(this.tmp, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (this.failure) throw this.failure;
      return await open(this.cache.path(this.hex), 'r');
    }
  }

  private settle(failure?: Error): void {
    if (failure) this.failure = failure;
    else {
      this.verified = true;
      this.written = this.size;
    }
    // Readers go to the file from here: the fill may live as long as the pull.
    this.recent.clear();
    this.wake();
  }

  /** Whether the download is more than half the window ahead of every open reader (and one is open). */
  private aheadOfReaders(): boolean {
    let furthest = -1;
    for (const { at } of this.readers) furthest = Math.max(furthest, at);
    return furthest >= 0 && this.recent.end - furthest > RECENT_WINDOW / 2;
  }

  /** A reader is at `at` now: the download may go on if it waited for one. */
  private moved(place: { at: number }, at: number): void {
    place.at = at;
    const resume = this.readerMoved;
    this.readerMoved = undefined;
    resume?.();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
