import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { ConfigError, type RemoteOptions } from '@dogestry/core/transport';
import type { S3Location } from './location.js';

/**
 * Seconds a request may go without a byte moving either way before it fails, and the SDK's
 * retry sends it again (the AWS CLI's read timeout). Without one, a store that stops answering
 * mid-request (a full radosgw did) held a push forever at 0 CPU. `[s3] timeout` sets it.
 */
export const IDLE_TIMEOUT = 60;
/** Tries of each request (the first and its retries) before its error is ours to report. */
export const ATTEMPTS = 5;
/** Seconds to open a connection, at most (or the idle timeout, if shorter). */
const CONNECT_TIMEOUT = 15;

/** `[s3] timeout`, in seconds: a positive number, else CONFIG. */
export function idleTimeout(value: string | undefined): number {
  if (value === undefined || value === '') return IDLE_TIMEOUT;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ConfigError(`[s3] timeout = ${JSON.stringify(value)} is not a number of seconds: use a positive number such as 60`);
  }
  return seconds;
}

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
  const timeout = idleTimeout(settings.timeout);
  const config: S3ClientConfig = {
    region,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without a region in the URL, follow S3's 301 to the bucket's region.
    followRegionRedirects: !location.region && !endpoint,
    maxAttempts: ATTEMPTS,
    requestHandler: {
      socketTimeout: timeout * 1000,
      connectionTimeout: Math.min(CONNECT_TIMEOUT, timeout) * 1000,
    },
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
