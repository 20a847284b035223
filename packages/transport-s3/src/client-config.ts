import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { RemoteOptions } from '@dogestry/core/transport';
import type { S3Location } from './location.js';

/**
 * Credentials, in order, each a whole key pair (never a key from one and a secret from another):
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), the seed's
 * `AWS_ACCESS_KEY`/`AWS_SECRET_KEY`, what `dogestry login` stored for this remote, the
 * `[s3]`/`[remote]` settings `access_key_id`/`secret_access_key` (and `session_token`), then the
 * rest of the SDK's default chain (profiles incl. `?profile=`, SSO, container and instance roles).
 */
export function clientConfig(location: S3Location, options: RemoteOptions): S3ClientConfig {
  const settings = options.settings ?? {};
  const env = options.env ?? process.env;
  const region = location.region ?? settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpoint = location.endpoint ?? settings.endpoint;
  const pair = [
    { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN },
    { accessKeyId: env.AWS_ACCESS_KEY, secretAccessKey: env.AWS_SECRET_KEY, sessionToken: undefined },
    ...[options.credentials ?? {}, settings].map((from) => ({
      accessKeyId: from.access_key_id,
      secretAccessKey: from.secret_access_key,
      sessionToken: from.session_token,
    })),
  ].find((p) => p.accessKeyId && p.secretAccessKey);
  const { accessKeyId, secretAccessKey, sessionToken } = pair ?? {};
  const config: S3ClientConfig = {
    region,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without a region in the URL, follow S3's 301 to the bucket's region.
    followRegionRedirects: !location.region && !endpoint,
    maxAttempts: 5,
  };
  if (endpoint) Object.assign(config, { endpoint, forcePathStyle: true });
  if (location.anonymous) {
    Object.assign(config, { signer: { sign: async (request: unknown) => request }, credentials: { accessKeyId: '', secretAccessKey: '' } });
  } else if (accessKeyId && secretAccessKey) {
    Object.assign(config, {
      credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    });
  } else if (location.profile ?? settings.profile) {
    Object.assign(config, { profile: location.profile ?? settings.profile });
  }
  return config;
}
