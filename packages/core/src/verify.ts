import pLimit from 'p-limit';
import { assertListable, listTagKeys } from './catalog.js';
import { decodeInto } from './compression.js';
import { DogestryError } from './errors.js';
import { blobKey, checkMarker, type ImageManifest, parseManifest, readPointer, readSmallBlob, tagKey } from './format.js';
import { formatNameTag, hexOf } from './reference.js';
import { streamHash } from './sha256.js';
import { type RemoteSelection, remoteOf } from './transports.js';

export interface VerifyProblem {
  readonly key: string;
  readonly problem: 'missing' | 'digest-mismatch' | 'unreadable';
  readonly detail: string;
  /** Tags whose images need this key. */
  readonly tags: readonly string[];
}

export interface VerifyReport {
  readonly remote: string;
  readonly tags: number;
  readonly blobs: number;
  readonly bytes: number;
  readonly problems: readonly VerifyProblem[];
}

/**
 * Re-read and re-hash every blob reachable from a tag (tags -> manifests -> config and
 * layers), each once. Reports problems instead of stopping at the first.
 */
export async function verify(options: RemoteSelection & { readonly concurrency?: number }): Promise<VerifyReport> {
  const remote = await remoteOf(options);
  assertListable(remote, 'verify');
  await checkMarker(remote);
  const problems: VerifyProblem[] = [];
  const users = new Map<string, string[]>(); // blob hex -> tags
  const tags = await listTagKeys(remote);
  const use = (hex: string, tag: string): void => {
    const list = users.get(hex);
    if (list) list.push(tag);
    else users.set(hex, [tag]);
  };
  for (const nameTag of tags) {
    const tag = formatNameTag(nameTag);
    const manifestHex = await readPointer(remote, tagKey(nameTag));
    if (!manifestHex) continue;
    let manifest: ImageManifest;
    try {
      manifest = parseManifest(await readSmallBlob(remote, manifestHex), blobKey(manifestHex));
    } catch (error) {
      problems.push(problemOf(blobKey(manifestHex), error, [tag]));
      continue;
    }
    use(hexOf(manifest.config.digest), tag);
    for (const layer of manifest.layers) use(hexOf(layer.digest), tag);
  }
  const limit = pLimit(options.concurrency ?? 4);
  let bytes = 0;
  await Promise.all(
    [...users].map(([hex, tagList]) =>
      limit(async () => {
        const key = blobKey(hex);
        try {
          const body = await remote.read(key);
          if (!body) {
            problems.push({ key, problem: 'missing', detail: 'not on the remote', tags: tagList });
            return;
          }
          const hash = streamHash();
          try {
            await decodeInto(body, (chunk) => {
              bytes += chunk.length;
              return hash.update(chunk);
            });
          } catch (error) {
            hash.discard();
            throw error;
          }
          const digest = `sha256:${await hash.digest()}`;
          if (digest !== `sha256:${hex}`) {
            problems.push({ key, problem: 'digest-mismatch', detail: `hashes to ${digest}`, tags: tagList });
          }
        } catch (error) {
          problems.push(problemOf(key, error, tagList));
        }
      }),
    ),
  );
  problems.sort((a, b) => a.key.localeCompare(b.key));
  return { remote: remote.url, tags: tags.length, blobs: users.size, bytes, problems };
}

function problemOf(key: string, error: unknown, tags: string[]): VerifyProblem {
  if (error instanceof DogestryError && error.code === 'NOT_FOUND') return { key, problem: 'missing', detail: 'not on the remote', tags };
  if (error instanceof DogestryError && error.code === 'DIGEST_MISMATCH')
    return { key, problem: 'digest-mismatch', detail: error.message, tags };
  if (error instanceof DogestryError && error.code !== 'FORMAT') throw error;
  return { key, problem: error instanceof DogestryError ? 'unreadable' : 'digest-mismatch', detail: (error as Error).message, tags };
}
