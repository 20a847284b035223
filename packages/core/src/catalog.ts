import pLimit from 'p-limit';
import { DogestryError, FormatError, LegacyFormatError, NotFoundError, UnsupportedError } from './errors.js';
import {
  assertWritable,
  blobKey,
  checkMarker,
  isImageConfig,
  parseStoredManifest,
  REPOSITORIES_PREFIX,
  readPointer,
  readSmallBlob,
  requireRepository,
  tagKey,
} from './format.js';
import { assertName, assertTag, type NameTag, parseNameTag } from './reference.js';
import type { Remote } from './remote.js';
import { type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

export type { RemoteSelection };

export interface ImageListing {
  readonly name: string;
  readonly tag: string;
  readonly imageId: string;
  readonly manifestDigest: string;
  /** Sum of the uncompressed layer sizes. */
  readonly size: number;
  readonly layers: number;
  /** When the tag was last written, where the remote knows it. */
  readonly pushedAt?: string;
  /** Set when the tag cannot be read (a damaged tag, manifest missing or corrupt): what is wrong. Run `verify`. */
  readonly problem?: string;
  /**
   * Set when the tag names no image but what a registry client pushed (feature `registry`): an
   * image index, or an OCI artifact (its artifact type); `imageId` is then empty and `size`
   * and `layers` count the index's manifests or the artifact's blobs as stored.
   */
  readonly artifact?: string;
}

export async function assertListable(remote: Remote, what: string): Promise<void> {
  await remote.prepare?.('list');
  if (!remote.capabilities.list) {
    throw new UnsupportedError(
      `${remote.url} cannot list its keys (a plain static server or a presigned ticket), so \`${what}\` cannot work there; pull by name:tag or a full image id, or use a listable URL for the same repository`,
    );
  }
}

/** Every `name:tag` under repositories/, parsed and validated; foreign keys are skipped. */
export async function listTagKeys(remote: Remote, prefix = REPOSITORIES_PREFIX): Promise<NameTag[]> {
  const found: NameTag[] = [];
  for await (const key of remote.list(prefix)) {
    const rest = key.slice(REPOSITORIES_PREFIX.length);
    const slash = rest.lastIndexOf('/');
    if (slash <= 0) continue;
    try {
      found.push({ name: assertName(rest.slice(0, slash)), tag: assertTag(rest.slice(slash + 1)) });
    } catch {
      // not a dogestry key
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name) || a.tag.localeCompare(b.tag));
}

/** The images a remote holds, one row per tag, optionally only those of one name. */
export async function listImages(options: RemoteSelection & { readonly name?: string }): Promise<ImageListing[]> {
  throwIfAborted(options.signal);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertListable(remote, 'images');
  await requireRepository(remote);
  const prefix = options.name ? `${REPOSITORIES_PREFIX}${assertName(options.name)}/` : REPOSITORIES_PREFIX;
  const tags = (await listTagKeys(remote, prefix)).filter((t) => !options.name || t.name === options.name);
  const limit = pLimit(8);
  const rows = await Promise.all(
    tags.map((nameTag) =>
      limit(async (): Promise<ImageListing | undefined> => {
        const key = tagKey(nameTag);
        try {
          const [manifestHex, stat] = await Promise.all([readPointer(remote, key), remote.stat(key)]);
          if (!manifestHex) return undefined; // removed while we listed
          const manifest = parseStoredManifest(await readSmallBlob(remote, manifestHex), blobKey(manifestHex));
          const image = manifest.config !== undefined && isImageConfig(manifest.config);
          const parts = manifest.kind === 'index' ? manifest.manifests : manifest.layers;
          const row: ImageListing = {
            name: nameTag.name,
            tag: nameTag.tag,
            imageId: image ? (manifest.config?.digest ?? '') : '',
            manifestDigest: `sha256:${manifestHex}`,
            size: parts.reduce((sum, l) => sum + l.size, 0),
            layers: parts.length,
            ...(image ? {} : { artifact: manifest.artifactType ?? manifest.config?.mediaType ?? manifest.mediaType }),
          };
          return stat?.modified ? { ...row, pushedAt: stat.modified.toISOString() } : row;
        } catch (error) {
          // One broken tag must not hide the others: list it, flagged.
          if (!(error instanceof DogestryError) || !BROKEN_TAG_CODES.has(error.code)) throw error;
          return { name: nameTag.name, tag: nameTag.tag, imageId: '', manifestDigest: '', size: 0, layers: 0, problem: error.message };
        }
      }),
    ),
  );
  return rows.filter((r): r is ImageListing => r !== undefined);
}

/** Errors that mean a tag (or what it points at) is damaged, not that the storage failed. */
const BROKEN_TAG_CODES = new Set(['NOT_FOUND', 'DIGEST_MISMATCH', 'FORMAT', 'LEGACY_FORMAT', 'UPGRADE_REQUIRED', 'UNSAFE_REMOTE']);

/** The tags of one repository name. */
export async function listTags(options: RemoteSelection & { readonly name: string }): Promise<string[]> {
  throwIfAborted(options.signal);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertListable(remote, 'tags');
  await requireRepository(remote);
  const name = assertName(options.name);
  return (await listTagKeys(remote, `${REPOSITORIES_PREFIX}${name}/`)).filter((t) => t.name === name).map((t) => t.tag);
}

/** Remove a tag. Blobs stay until gc, so other tags sharing layers are untouched. */
export async function removeTag(
  options: RemoteSelection & { readonly image: string },
): Promise<{ removed: string; manifestDigest: string }> {
  const nameTag = parseNameTag(options.image);
  throwIfAborted(options.signal);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertWritable(remote);
  await checkMarker(remote, 'write');
  const key = tagKey(nameTag);
  // A damaged tag can still be removed; a dogestry 1.x one is never touched.
  const manifestHex = await readPointer(remote, key).catch(async (error: unknown) => {
    if (!(error instanceof FormatError) || error instanceof LegacyFormatError || !(await remote.stat(key))) throw error;
    return '';
  });
  if (manifestHex === undefined) {
    throw new NotFoundError(`${nameTag.name}:${nameTag.tag} is not on ${remote.url}`);
  }
  await remote.delete([key]);
  return { removed: `${nameTag.name}:${nameTag.tag}`, manifestDigest: manifestHex ? `sha256:${manifestHex}` : '' };
}
