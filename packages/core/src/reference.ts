import { InvalidReferenceError } from './errors.js';

// OCI distribution grammar for repository names and tags.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{4,64})$/;

/** A repository name and tag as stored under `repositories/<name>/<tag>`. */
export interface NameTag {
  readonly name: string;
  readonly tag: string;
}

export function assertName(name: string): string {
  if (name.length === 0 || name.length > 255 || !NAME.test(name)) {
    throw new InvalidReferenceError(
      `invalid image name ${JSON.stringify(name)}: use lowercase letters, digits and single separators (. _ -), with / between path parts, like "team/app"`,
    );
  }
  return name;
}

export function assertTag(tag: string): string {
  if (!TAG.test(tag)) {
    throw new InvalidReferenceError(`invalid tag ${JSON.stringify(tag)}: up to 128 of A-Z a-z 0-9 _ . - and not starting with . or -`);
  }
  return tag;
}

export function assertDigestHex(hex: string): string {
  if (!HEX64.test(hex)) throw new InvalidReferenceError(`invalid sha256 digest ${JSON.stringify(hex)}`);
  return hex;
}

/**
 * Parse `name`, `name:tag` (tag defaults to `latest`). A registry host (`host:5000/app`) is
 * kept as part of the name only if it is lowercase and valid by the grammar; a digest
 * reference (`@sha256:…`) is refused, since remotes are addressed by tag or image id.
 */
export function parseNameTag(reference: string): NameTag {
  if (reference.includes('@')) {
    throw new InvalidReferenceError(
      `${JSON.stringify(reference)}: digest references are not supported; use name:tag or an image id prefix`,
    );
  }
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? reference.slice(0, colon) : reference;
  const tag = hasTag ? reference.slice(colon + 1) : 'latest';
  return { name: assertName(name), tag: assertTag(tag) };
}

export function formatNameTag(ref: NameTag): string {
  return `${ref.name}:${ref.tag}`;
}

/** The hex part of an image-id prefix (`3f2a`, `sha256:3f2a…`), or undefined if it is not one. */
export function idPrefixOf(reference: string): string | undefined {
  return ID_PREFIX.exec(reference)?.[1];
}

/** `sha256:<hex>` -> `<hex>`, validating. */
export function hexOf(digest: string): string {
  if (!digest.startsWith('sha256:')) throw new InvalidReferenceError(`unsupported digest ${JSON.stringify(digest)}`);
  return assertDigestHex(digest.slice('sha256:'.length));
}
