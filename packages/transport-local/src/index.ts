/**
 * A directory on this machine as a dogestry remote: `/path`, `./path`, `file:///path`.
 *
 * Every write goes to a temporary file under `<root>/.dogestry-tmp/` and is renamed into
 * place only after the body ended cleanly and was fsynced, so a crash or a failed stream
 * never leaves a partial object at a final key. Create-only writes use link(2), which fails
 * atomically when the target exists, so two racing pushers cannot both win.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  AuthError,
  assertSafeKey,
  DogestryError,
  InvalidReferenceError,
  type Remote,
  type RemoteCapabilities,
  type StatResult,
  TransportError,
  type WriteOptions,
} from '@dogestry/core';

const TMP_DIR = '.dogestry-tmp';

export class LocalRemote implements Remote {
  readonly url: string;
  readonly capabilities: RemoteCapabilities = { write: true, list: true, createOnly: true };

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  async stat(key: string): Promise<StatResult | undefined> {
    const path = this.path(key);
    try {
      const s = await stat(path);
      return s.isFile() ? { size: s.size, modified: s.mtime } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw translate(error, `stat ${key}`);
    }
  }

  async read(key: string, opts: { offset?: number } = {}): Promise<Readable | undefined> {
    const path = this.path(key);
    try {
      const handle = await open(path, 'r');
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        return undefined;
      }
      return handle.createReadStream({ start: opts.offset ?? 0, highWaterMark: 1024 * 1024 });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw translate(error, `read ${key}`);
    }
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    const target = this.path(key);
    const tmp = await this.tempPath();
    try {
      const out = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 });
      await pipeline(body, out, opts.signal ? { signal: opts.signal } : {});
      const handle = await open(tmp, 'r+');
      await handle.sync();
      await handle.close();
      return await placeFile(tmp, target, opts.createOnly ?? false);
    } catch (error) {
      body.destroy();
      await rm(tmp, { force: true });
      throw translate(error, `write ${key}`);
    }
  }

  async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    const source = this.path(from);
    const target = this.path(to);
    try {
      return await placeFile(source, target, opts.createOnly ?? false);
    } catch (error) {
      throw translate(error, `move ${from} to ${to}`);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    // Walk from the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    if (base) assertSafeKey(base);
    yield* this.walk(base, prefix);
  }

  private async *walk(relative: string, prefix: string): AsyncIterable<string> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(relative ? join(this.root, ...relative.split('/')) : this.root, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
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
        await unlink(this.path(key));
      } catch (error) {
        if (!isMissing(error)) throw translate(error, `delete ${key}`);
      }
    }
  }

  private async tempPath(): Promise<string> {
    const dir = join(this.root, TMP_DIR);
    await mkdir(dir, { recursive: true });
    return join(dir, randomUUID());
  }
}

/**
 * Put the file `source` at `target`: rename(2), which replaces atomically, or for create-only
 * link(2), which fails atomically when `target` exists (then `source` is dropped).
 */
async function placeFile(source: string, target: string, createOnly: boolean): Promise<'written' | 'exists'> {
  await mkdir(dirname(target), { recursive: true });
  if (!createOnly) {
    await rename(source, target);
    return 'written';
  }
  try {
    await link(source, target);
    return 'written';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw error;
  } finally {
    await unlink(source).catch(() => {});
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
