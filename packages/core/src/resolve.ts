import { AmbiguousReferenceError, NotFoundError } from './errors.js';
import { IMAGES_PREFIX, imageKey, readPointer, tagKey } from './format.js';
import { formatNameTag, idPrefixOf, type NameTag, parseNameTag } from './reference.js';
import type { Remote } from './remote.js';

export interface ResolvedImage {
  readonly manifestHex: string;
  /** The tag it was found by, if it was found by tag. */
  readonly nameTag?: NameTag;
}

/**
 * `name[:tag]` or an image-id prefix (4+ hex digits, optionally `sha256:`). A full id is a
 * direct key read; a shorter prefix needs a listable remote. A string that could be both
 * (`cafe`) is tried as an id first, then as a name.
 */
export async function resolveImage(remote: Remote, reference: string): Promise<ResolvedImage> {
  const prefix = idPrefixOf(reference);
  if (prefix) {
    const found = await findByIdPrefix(remote, prefix);
    if (found) return { manifestHex: found };
    if (reference.startsWith('sha256:')) throw new NotFoundError(`no image with id ${reference} on ${remote.url}`);
  }
  const nameTag = parseNameTag(reference);
  const manifestHex = await readPointer(remote, tagKey(nameTag));
  if (!manifestHex) {
    const also = prefix ? ` and no image id starts with ${prefix}` : '';
    throw new NotFoundError(`${formatNameTag(nameTag)} is not on ${remote.url}${also}: \`dogestry images\` lists what is there`);
  }
  return { manifestHex, nameTag };
}

async function findByIdPrefix(remote: Remote, prefix: string): Promise<string | undefined> {
  if (prefix.length === 64) return readPointer(remote, imageKey(prefix));
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
