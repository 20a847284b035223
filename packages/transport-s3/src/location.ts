/** `s3://BUCKET[/PREFIX/][?region=…&endpoint=…&profile=…&anonymous=true]`: parsing, and the canonical form shown to users (never with credentials). */
import { InvalidReferenceError } from '@dogestry/core/transport';

export interface S3Location {
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly region?: string;
  readonly endpoint?: string;
  readonly profile?: string;
  readonly anonymous: boolean;
}

export function parseS3Url(location: string): S3Location {
  let url: URL;
  try {
    url = new URL(location);
  } catch (cause) {
    throw new InvalidReferenceError(`invalid S3 URL ${JSON.stringify(location)}: use s3://BUCKET/PREFIX/?region=…`, { cause });
  }
  if (url.protocol !== 's3:' || !url.hostname)
    throw new InvalidReferenceError(`invalid S3 URL ${JSON.stringify(location)}: use s3://BUCKET/PREFIX/`);
  if (url.username || url.password) {
    throw new InvalidReferenceError(
      'credentials do not belong in an s3:// URL: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or [s3] in dogestry.cfg',
    );
  }
  const prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (prefix.split('/').some((part) => part === '..' || part === '.'))
    throw new InvalidReferenceError(`invalid S3 prefix ${JSON.stringify(prefix)}`);
  const known = new Set(['region', 'endpoint', 'profile', 'anonymous']);
  for (const key of url.searchParams.keys()) {
    if (!known.has(key))
      throw new InvalidReferenceError(`unknown S3 URL option ${JSON.stringify(key)}: use region, endpoint, profile or anonymous`);
  }
  const get = (name: string): string | undefined => url.searchParams.get(name) || undefined;
  const region = get('region');
  const endpoint = get('endpoint');
  const profile = get('profile');
  return {
    bucket: url.hostname,
    prefix: prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix,
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(profile ? { profile } : {}),
    anonymous: get('anonymous') === 'true' || get('anonymous') === '1',
  };
}

export function canonicalUrl(location: S3Location): string {
  const query = new URLSearchParams();
  if (location.region) query.set('region', location.region);
  if (location.endpoint) query.set('endpoint', location.endpoint);
  if (location.profile) query.set('profile', location.profile);
  if (location.anonymous) query.set('anonymous', 'true');
  const q = query.toString();
  return `s3://${location.bucket}/${location.prefix}${q ? `?${q}` : ''}`;
}
