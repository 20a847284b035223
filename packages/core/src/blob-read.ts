import { DigestMismatchError, DogestryError, NotFoundError, TransportError } from './errors.js';

/** A layer's stored blob is not on the remote, though a manifest names it. */
export function missingBlob(key: string, remoteUrl: string): NotFoundError {
  return new NotFoundError(
    `${key} is missing on ${remoteUrl}: the repository is incomplete; run \`dogestry verify\` and push the image again`,
  );
}

/**
 * What a failure while reading and decoding a stored blob means: our own errors as they are,
 * and so a decoder that did not load (an installation's fault: neither the remote's nor its
 * bytes'); an I/O error (`E…` codes) is the transport's, worth a retry; anything else came
 * from bytes that do not decode (zlib Z_* errors, lz4 frame errors), which are corrupt bytes.
 */
export function blobReadFailure(error: unknown, key: string, remoteUrl: string, expectedHex: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof DogestryError || code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED') return error as Error;
  if (code?.startsWith('E'))
    return new TransportError(`reading ${key} from ${remoteUrl} failed: ${(error as Error).message}`, { cause: error, retryable: true });
  return new DigestMismatchError(key, `sha256:${expectedHex}`, `undecodable content (${(error as Error).message})`);
}
