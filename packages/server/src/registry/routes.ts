/**
 * The distribution API's URL space (OCI distribution spec v1.1, "API"): which endpoint a
 * request path names, with its repository name and reference checked against the spec's
 * grammar before anything reaches the remote.
 */
import { RegistryError } from './errors.js';

export type Route =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id?: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

const NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Any algorithm the spec's digest grammar allows: told apart from a malformed one. */
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The endpoint `path` names, or undefined where it names none. */
export function route(path: string): Route | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  const match = /^\/v2\/(.+)\/(tags\/list|manifests\/[^/]+|blobs\/uploads\/?[^/]*|blobs\/[^/]+|referrers\/[^/]+)$/.exec(path);
  if (!match) return undefined;
  const name = checkName(match[1] as string);
  const rest = match[2] as string;
  if (rest === 'tags/list') return { kind: 'tags', name };
  if (rest.startsWith('blobs/uploads')) {
    const id = rest.slice('blobs/uploads'.length).replace(/^\//, '');
    if (id === '') return { kind: 'upload', name };
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `upload ${JSON.stringify(id)} is not in progress`);
    return { kind: 'upload', name, id };
  }
  const [endpoint, raw] = rest.split('/') as [string, string];
  const value = decodeURIComponent(raw);
  if (endpoint === 'manifests') return { kind: 'manifest', name, reference: checkReference(name, value) };
  if (endpoint === 'referrers') return { kind: 'referrers', name, digest: checkDigest(value) };
  return { kind: 'blob', name, digest: checkDigest(value) };
}

export function checkName(raw: string): string {
  const name = decodeURIComponent(raw);
  if (name.length > 255 || !NAME.test(name))
    throw new RegistryError(400, 'NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`);
  return name;
}

/** A tag or digest; one that cannot name anything here is simply not here (404, as the spec's conformance suite expects). */
function checkReference(name: string, value: string): string {
  if (TAG.test(value) || DIGEST.test(value)) return value;
  if (ANY_DIGEST.test(value) && value.includes(':') && !value.startsWith('sha256:')) {
    throw new RegistryError(400, 'DIGEST_INVALID', `digest ${JSON.stringify(value)} is not one this registry holds (sha256 only)`);
  }
  throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${JSON.stringify(value)} is not in repository ${name}`);
}

function checkDigest(value: string): string {
  if (DIGEST.test(value)) return value;
  throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(value)}: sha256 and 64 lowercase hex digits`);
}

export const isDigest = (reference: string): boolean => DIGEST.test(reference);
