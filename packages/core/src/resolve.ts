import pLimit from 'p-limit';
import { listTagKeys } from './catalog.js';
import { AmbiguousReferenceError, NotFoundError } from './errors.js';
import { IMAGES_PREFIX, imageKey, readPointer, tagKey } from './format.js';
import { formatNameTag, idPrefixOf, type NameTag, parseNameTag } from './reference.js';
import type { Remote } from './remote.js';

export interface ResolvedImage {
  readonly manifestHex: string;
  /** The tag it was found by, if it was found by tag. */
  readonly nameTag?: NameTag;
  /** Found by id (with `nameIds`): the one tag the remote holds it under, if exactly one. */
  readonly heldAs?: NameTag;
}

/**
 * `name[:tag]` or an image-id prefix (4+ hex digits, optionally `sha256:`). A full id is a
 * direct key read; a shorter prefix needs a listable remote. A string that could be both
 * (`cafe`) is tried as an id first, then as a name.
 */
/** Image ids on a remote are config digests, as Docker's graph drivers show them; the containerd store shows others. */
const CONTAINERD_IDS =
  " (ids here are config digests: with Docker's containerd image store, `docker images` shows manifest digests instead, so name the image by name:tag)";

export async function resolveImage(remote: Remote, reference: string, options: { nameIds?: boolean } = {}): Promise<ResolvedImage> {
  const prefix = idPrefixOf(reference);
  if (prefix) {
    const found = await findByIdPrefix(remote, prefix);
    if (found) {
      const heldAs = options.nameIds ? await soleTagOf(remote, found) : undefined;
      return heldAs ? { manifestHex: found, heldAs } : { manifestHex: found };
    }
    if (reference.startsWith('sha256:')) throw new NotFoundError(`no image with id ${reference} on ${remote.url}${CONTAINERD_IDS}`);
  }
  const nameTag = parseNameTag(reference);
  const manifestHex = await readPointer(remote, tagKey(nameTag));
  if (!manifestHex) {
    if (prefix && prefix.length < 64 && !remote.capabilities.list) {
      throw new NotFoundError(
        `${formatNameTag(nameTag)} is not on ${remote.url}, which cannot list its keys, so an image-id prefix cannot be matched there: give the full 64-digit image id, or name:tag`,
      );
    }
    const also = prefix ? ` and no image id starts with ${prefix}${CONTAINERD_IDS}` : '';
    const hint = remote.capabilities.list ? ': `dogestry images` lists what is there' : '';
    throw new NotFoundError(`${formatNameTag(nameTag)} is not on ${remote.url}${also}${hint}`);
  }
  return { manifestHex, nameTag };
}

async function findByIdPrefix(remote: Remote, prefix: string): Promise<string | undefined> {
  if (prefix.length === 64) return readPointer(remote, imageKey(prefix));
  await remote.prepare?.('list');
  if (!remote.capabilities.list) return undefined;
  const matches: string[] = [];
  for await (const key of remote.list(`${IMAGES_PREFIX}${prefix}`)) {
    matches.push(key.slice(IMAGES_PREFIX.length));
    if (matches.length > 8) break;
  }
  if (matches.length > 1) {
    throw new AmbiguousReferenceError(
      `id prefix ${prefix} matches several images (${matches.map((m) => m.slice(0, 12)).join(', ')}): give more digits`,
    );
  }
  const only = matches[0];
  return only ? readPointer(remote, imageKey(only)) : undefined;
}

/** The one tag pointing at this manifest, on a listable remote; none when several or none do. */
async function soleTagOf(remote: Remote, manifestHex: string): Promise<NameTag | undefined> {
  await remote.prepare?.('list');
  if (!remote.capabilities.list) return undefined;
  const tags = await listTagKeys(remote);
  const limit = pLimit(16);
  const pointing = await Promise.all(
    tags.map((t) => limit(async () => ((await readPointer(remote, tagKey(t)).catch(() => undefined)) === manifestHex ? t : undefined))),
  );
  const found = pointing.filter((t): t is NameTag => t !== undefined);
  return found.length === 1 ? found[0] : undefined;
}
