/**
 * A directory on this machine as a dogestry remote: `/path`, `./path`, `file:///path`.
 *
 * Every write goes to a temporary file under `<root>/.dogestry-tmp/` and is renamed into
 * place only after the body ended cleanly and was fsynced, and the directory that received
 * it is fsynced too, so a crash or power loss never leaves a partial object at a final key
 * nor a tag that outlived the blobs it names. Create-only writes use link(2), which fails
 * atomically when the target exists, so two racing pushers cannot both win.
 *
 * Nothing below the root is followed if it is a symlink: a symlinked directory or file inside
 * the remote (which could lead a write or a read outside it) fails with UNSAFE_REMOTE. The
 * root itself may be a symlink: that is where the user put it. (A process that swaps a
 * checked directory for a symlink between the check and the use can still race this; only
 * those who can already write the remote can.)
 */
import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  AuthError,
  assertSafeKey,
  DogestryError,
  InvalidReferenceError,
  type ReadOptions,
  type Remote,
  type RemoteCapabilities,
  type StatResult,
  type SweepResult,
  TransportError,
  UnsafeRemoteError,
  type WriteOptions,
} from '@dogestry/core/transport';

const TMP_DIR = '.dogestry-tmp';

export class LocalRemote implements Remote {
  readonly url: string;
  readonly capabilities: RemoteCapabilities = { write: true, list: true, createOnly: true };

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  /** The path of `key` after checking that no directory on the way is a symlink (see `directory`). */
  private async path(key: string, create = false): Promise<string | undefined> {
    assertSafeKey(key);
    const parts = key.split('/');
    const dir = await this.directory(parts.slice(0, -1), key, create);
    return dir === undefined ? undefined : join(dir, parts[parts.length - 1] as string);
  }

  /**
   * The directory `parts` below the root, each component checked not to be a symlink.
   * `create` makes missing ones (each fsynced into its parent); otherwise a missing one
   * answers undefined.
   */
  private async directory(parts: readonly string[], key: string, create: boolean): Promise<string | undefined> {
    if (create) await mkdir(this.root, { recursive: true });
    let dir = this.root;
    for (const part of parts) {
      const next = join(dir, part);
      const kind = await this.kindOf(next, key);
      if (kind === 'missing') {
        if (!create) return undefined;
        try {
          await mkdir(next);
          await syncDirectory(dir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        if ((await this.kindOf(next, key)) !== 'directory') throw this.unsafe(next, key);
      } else if (kind !== 'directory') {
        if (!create) return undefined;
        throw new TransportError(`cannot write ${key} on ${this.url}: ${next} is a file, not a directory`);
      }
      dir = next;
    }
    return dir;
  }

  private async kindOf(path: string, key: string): Promise<'missing' | 'directory' | 'file' | 'other'> {
    try {
      const s = await lstat(path);
      if (s.isSymbolicLink()) throw this.unsafe(path, key);
      return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other';
    } catch (error) {
      if (isMissing(error)) return 'missing';
      throw error;
    }
  }

  private unsafe(path: string, key: string): UnsafeRemoteError {
    return new UnsafeRemoteError(
      `${path} is a symlink inside the remote ${this.url} (reached for ${key}); dogestry never follows links out of a directory remote. Remove the link, or point the remote at the real directory`,
    );
  }

  async stat(key: string): Promise<StatResult | undefined> {
    try {
      const path = await this.path(key);
      if (!path) return undefined;
      const s = await lstat(path);
      if (s.isSymbolicLink()) throw this.unsafe(path, key);
      return s.isFile() ? { size: s.size, modified: s.mtime } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw translate(error, `stat ${key}`);
    }
  }

  async read(key: string, opts: ReadOptions = {}): Promise<Readable | undefined> {
    try {
      const path = await this.path(key);
      if (!path) return undefined;
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ELOOP') throw this.unsafe(path, key);
        throw error;
      });
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        return undefined;
      }
      const start = opts.offset ?? 0;
      return handle.createReadStream({
        start,
        ...(opts.length !== undefined ? { end: start + Math.max(opts.length, 1) - 1 } : {}),
        highWaterMark: Math.min(1024 * 1024, opts.length ?? Number.POSITIVE_INFINITY),
      });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw translate(error, `read ${key}`);
    }
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    let tmp: string | undefined;
    try {
      tmp = await this.path(`${TMP_DIR}/${randomUUID()}`, true);
      const out = createWriteStream(tmp as string, { flags: 'wx', highWaterMark: 1024 * 1024 });
      await pipeline(body, out, opts.signal ? { signal: opts.signal } : {});
      const handle = await open(tmp as string, 'r+');
      await handle.sync();
      await handle.close();
      return await this.place(tmp as string, key, opts.createOnly ?? false);
    } catch (error) {
      body.destroy();
      if (tmp) await rm(tmp, { force: true });
      throw translate(error, `write ${key}`);
    }
  }

  async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    try {
      const source = await this.path(from);
      if (!source || (await this.kindOf(source, from)) !== 'file') throw new TransportError(`move: ${from} is not on ${this.url}`);
      return await this.place(source, to, opts.createOnly ?? false);
    } catch (error) {
      throw translate(error, `move ${from} to ${to}`);
    }
  }

  /**
   * Put the file `source` at `key`: rename(2), which replaces atomically, or for create-only
   * link(2), which fails atomically when the target exists (then `source` is dropped). The
   * target's directory is fsynced, so the new name survives a power loss before anything
   * written after it (a tag after its blobs).
   */
  private async place(source: string, key: string, createOnly: boolean): Promise<'written' | 'exists'> {
    const target = (await this.path(key, true)) as string;
    const dir = target.slice(0, target.lastIndexOf(sep));
    try {
      if (!createOnly) await rename(source, target);
      else {
        try {
          await link(source, target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          if ((await this.kindOf(target, key)) !== 'file') throw this.unsafe(target, key);
          return 'exists';
        }
      }
      await syncDirectory(dir);
      return 'written';
    } finally {
      if (createOnly) await unlink(source).catch(() => {});
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    // Walk from the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    if (base) assertSafeKey(base);
    yield* this.walk(base, prefix);
  }

  /** Symlinks are neither files nor directories to readdir's Dirents: they are never listed or entered. */
  private async *walk(relative: string, prefix: string): AsyncIterable<string> {
    let entries: import('node:fs').Dirent[];
    try {
      const dir = await this.directory(relative ? relative.split('/') : [], prefix, false);
      if (!dir) return;
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw translate(error, `list ${prefix}`);
    }
    for (const entry of entries) {
      if (!relative && entry.name === TMP_DIR) continue;
      const key = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) yield key;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        const path = await this.path(key);
        if (path) await unlink(path);
      } catch (error) {
        if (!isMissing(error)) throw translate(error, `delete ${key}`);
      }
    }
  }

  /** Temporary files of writes that died (no byte written to them since `before`). */
  async sweep(before: Date, opts: { dryRun?: boolean } = {}): Promise<SweepResult> {
    const result = { count: 0, bytes: 0 };
    const dir = join(this.root, TMP_DIR);
    if ((await this.kindOf(dir, TMP_DIR)) !== 'directory') return result;
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const s = await lstat(path).catch(() => undefined);
      if (!s?.isFile() || s.mtime >= before) continue;
      if (!opts.dryRun) await unlink(path).catch(() => {});
      result.count++;
      result.bytes += s.size;
    }
    return result;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function translate(error: unknown, what: string): Error {
  if (error instanceof DogestryError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new AuthError(`cannot ${what}: permission denied (${code}); check the directory's owner and mode`, { cause: error });
  }
  if (code === undefined) return error as Error; // the body's own error: pass it on untouched
  return new TransportError(`cannot ${what}: ${(error as Error).message}`, {
    cause: error,
    retryable: code === 'EAGAIN' || code === 'EBUSY',
  });
}

/** Open `/path`, `./path` or `file:///path` (the directory is created by the first write). */
export function createRemote(url: string): Remote {
  let root: string;
  try {
    root = fileURLToPath(url);
  } catch (cause) {
    throw new InvalidReferenceError(`invalid file URL ${JSON.stringify(url)}`, { cause });
  }
  return new LocalRemote(root.endsWith(sep) && root.length > 1 ? root.slice(0, -1) : root);
}
