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
 * Parse `name`, `name:tag` (tag defaults to `latest`), normalized as Docker does and stored
 * in Docker's familiar short form (what `docker images` shows; docs/FORMAT.md, "Names"):
 * `docker.io/library/nginx`, `index.docker.io/library/nginx` and `library/nginx` are `nginx`;
 * `docker.io/team/app` is `team/app`. Another registry host stays part of the name when the
 * grammar allows it (`localhost/app`, `registry.example.com/app`); one with a port
 * (`localhost:5000/app`) cannot be a key and is refused with a pointer to `--as`. A digest
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
  const name = familiarName(hasTag ? reference.slice(0, colon) : reference, reference);
  const tag = hasTag ? reference.slice(colon + 1) : 'latest';
  return { name: assertName(name), tag: assertTag(tag) };
}

const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Docker's familiar form of a repository name (see parseNameTag). */
export function familiarName(name: string, reference = name): string {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let path = name;
  if (DOCKER_HUB.has(first)) path = name.slice(slash + 1);
  else if (first.includes(':')) {
    throw new InvalidReferenceError(
      `${JSON.stringify(reference)} names the registry ${first}, and a port cannot be part of a name on a remote: push it under a name of its own with --as (for example --as ${name.slice(slash + 1)}:TAG)`,
    );
  }
  return /^library\/[^/]+$/.test(path) ? path.slice('library/'.length) : path;
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
