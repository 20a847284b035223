import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Every file under `root` (relative path -> size and mtime), for before/after comparisons. */
export async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string, rel: string): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path, key);
      else {
        const s = await stat(path);
        out.set(key, `${s.size}@${s.mtimeMs}`);
      }
    }
  }
  await walk(root, '');
  return out;
}

export const keysUnder = (tree: Map<string, string>, prefix: string): string[] =>
  [...tree.keys()].filter((k) => k.startsWith(prefix)).sort();
