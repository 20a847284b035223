import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from './cache.js';
import { InvalidReferenceError } from './errors.js';

export interface CachePruneOptions {
  /** The pull cache (default: `$XDG_CACHE_HOME/dogestry` or `~/.cache/dogestry`). */
  readonly cacheDir?: string;
  /** Evict the least recently used blobs until the cache holds at most this many bytes. */
  readonly maxSize?: number;
  /** Where pushes spool layers (default: the OS temp dir). */
  readonly spoolDir?: string;
  /** Leftovers of dead pulls and pushes older than this go (default 1 h: live ones write continuously). */
  readonly staleSeconds?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface PruneCount {
  readonly count: number;
  readonly bytes: number;
}

export interface CachePruneReport {
  readonly dir: string;
  /** Verified blobs evicted to fit `maxSize`. */
  readonly evicted: PruneCount;
  /** Partial downloads of pulls that died (the cache's tmp/). */
  readonly temporary: PruneCount;
  /** Spool directories of pushes that died (`dogestry-spool-*`). */
  readonly spools: PruneCount;
  /** What the cache holds afterwards. */
  readonly kept: PruneCount;
}

/** `500M`, `10G`, `1.5T`, plain bytes -> bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new InvalidReferenceError(`invalid size ${JSON.stringify(text)}: use bytes or a number with K, M, G or T, like 10G`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(match[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(match[1]) * unit);
}

interface FileEntry {
  readonly path: string;
  readonly size: number;
  /** Last use: the later of its last read and its last write. */
  readonly used: number;
}

/**
 * Bound the local pull cache and clear what dead pulls and pushes left: the cache's partial
 * downloads and push spool directories with no write for `staleSeconds`, then, with `maxSize`,
 * the least recently used blobs until the cache fits.
 */
export async function pruneCache(options: CachePruneOptions = {}): Promise<CachePruneReport> {
  const dir = options.cacheDir ?? defaultCacheDir(options.env ?? process.env);
  const staleBefore = Date.now() - (options.staleSeconds ?? 3600) * 1000;
  const temporary = await removeAll((await filesIn(join(dir, 'tmp'))).filter((f) => f.used < staleBefore));
  const spools = await pruneSpools(options.spoolDir ?? tmpdir(), staleBefore);
  const blobs = (await filesIn(join(dir, 'blobs', 'sha256'))).sort((a, b) => a.used - b.used);
  let total = blobs.reduce((n, f) => n + f.size, 0);
  const evict: FileEntry[] = [];
  for (const blob of blobs) {
    if (options.maxSize === undefined || total <= options.maxSize) break;
    evict.push(blob);
    total -= blob.size;
  }
  const evicted = await removeAll(evict);
  return { dir, evicted, temporary, spools, kept: { count: blobs.length - evict.length, bytes: total } };
}

async function filesIn(dir: string): Promise<FileEntry[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const entries = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      const s = await stat(path).catch(() => undefined);
      return s?.isFile() ? { path, size: s.size, used: Math.max(s.atimeMs, s.mtimeMs) } : undefined;
    }),
  );
  return entries.filter((e): e is FileEntry => e !== undefined);
}

async function pruneSpools(dir: string, staleBefore: number): Promise<PruneCount> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('dogestry-spool-'));
  let count = 0;
  let bytes = 0;
  for (const name of names) {
    const path = join(dir, name);
    const files = await filesIn(path);
    const dirStat = await stat(path).catch(() => undefined);
    const lastWrite = Math.max(dirStat?.mtimeMs ?? 0, ...files.map((f) => f.used));
    if (lastWrite >= staleBefore) continue;
    await rm(path, { recursive: true, force: true });
    count++;
    bytes += files.reduce((n, f) => n + f.size, 0);
  }
  return { count, bytes };
}

async function removeAll(files: readonly FileEntry[]): Promise<PruneCount> {
  for (const f of files) await rm(f.path, { force: true });
  return { count: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}
