import type { BufferPool } from './buffer-pool.js';
import { createDecoder, decodeInto, type Encoder } from './compression.js';
import { DigestMismatchError, DogestryError, NotFoundError, TransportError } from './errors.js';
import { blobKey } from './format.js';
import type { ByteOutput } from './framed-codec.js';
import { type ProgressListener, progressCounter } from './progress.js';
import type { Remote } from './remote.js';
import { offloadedHash, streamHash } from './sha256.js';
import { both } from './streams.js';

/** Where a layer stored compressed under another digest comes from: that blob's digest and size. */
export interface CompressedSource {
  readonly hex: string;
  readonly size: number;
}

export interface DecodedBlob {
  /** Stored bytes read from the remote. */
  readonly stored: number;
  /** Decoded bytes handed on. */
  readonly size: number;
}

/**
 * Read the stored layer `sha256:<hex>` from `remote`, decode it and hand every decoded chunk
 * to `take` (waiting while it answers a promise), hashing as the bytes pass. Resolves once
 * they hashed to `hex` and numbered `size` (where known); rejects otherwise, handing on no
 * byte past `size`. `compressed`: the layer is stored as a gzip or zstd blob under its
 * compressed digest (a registry client pushed it), which is checked against its own digest
 * too. `pool`: lz4 blocks decode into its buffers, for a `take` whose consumer gives them back
 * (buffer-pool.ts). `stop` destroys the read with its reason, which is then the error.
 * `handedOn`, once every byte went to `take`, is awaited before the verdict (the cache finishes
 * its file, so its readers have all but the last byte either way).
 */
export async function readDecoded(
  remote: Remote,
  hex: string,
  size: number | undefined,
  take: ByteOutput,
  options: {
    emit?: ProgressListener | undefined;
    stop?: AbortSignal | undefined;
    compressed?: CompressedSource | undefined;
    handedOn?: () => Promise<void>;
    pool?: BufferPool | undefined;
  } = {},
): Promise<DecodedBlob> {
  const { emit, stop, compressed, handedOn, pool } = options;
  const key = blobKey(compressed?.hex ?? hex);
  const body = await remote.read(key);
  if (!body) throw missingBlob(key, remote.url);
  // Nothing awaits between here and decodeInto, which listens for the stream's error.
  const onStop = () => body.destroy(stop?.reason);
  if (stop?.aborted) onStop();
  stop?.addEventListener('abort', onStop, { once: true });
  const hash = offloadedHash();
  const progress = progressCounter(emit, `sha256:${hex}`, size);
  let decoded = 0;
  let stored: number;
  const passOn: ByteOutput = (chunk) => {
    decoded += chunk.length;
    if (size !== undefined && decoded > size) throw new DigestMismatchError(key, `sha256:${hex}`, `more than the ${size} bytes recorded`);
    progress(chunk.length);
    return both(hash.update(chunk), take(chunk));
  };
  try {
    if (compressed) {
      const unpacking = unpacker(compressed, key);
      const decoder = createDecoder(passOn);
      stored = await decodeInto(body, (chunk) => unpacking.write(chunk, decoder));
      await decoder.end();
      await unpacking.check();
    } else stored = await decodeInto(body, passOn, pool);
    await handedOn?.();
  } catch (error) {
    hash.discard();
    throw blobReadFailure(stop?.reason ?? error, key, remote.url, hex);
  } finally {
    stop?.removeEventListener('abort', onStop);
  }
  const digest = `sha256:${await hash.digest()}`;
  const expected = size ?? decoded;
  if (digest !== `sha256:${hex}` || decoded !== expected)
    throw new DigestMismatchError(
      compressed ? `${key} (decompressed: the diffID)` : key,
      `sha256:${hex}`,
      decoded === expected ? digest : `${decoded} of ${expected} bytes`,
    );
  return { stored, size: decoded };
}

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

/**
 * The compressed blob between storage and the tar decoder: counted and hashed against its own
 * digest, which `check` confirms once it has all passed.
 */
function unpacker(source: CompressedSource, key: string) {
  const hash = streamHash();
  let size = 0;
  return {
    write(chunk: Buffer, decoder: Encoder): Promise<void> | undefined {
      size += chunk.length;
      if (size > source.size) throw new DigestMismatchError(key, `sha256:${source.hex}`, `more than the ${source.size} bytes recorded`);
      return both(hash.update(chunk), decoder.write(chunk));
    },
    async check(): Promise<void> {
      const digest = `sha256:${await hash.digest()}`;
      if (digest !== `sha256:${source.hex}` || size !== source.size)
        throw new DigestMismatchError(key, `sha256:${source.hex}`, size === source.size ? digest : `${size} of ${source.size} bytes`);
    },
  };
}
