/**
 * An S3 bucket (AWS or any S3-compatible store: Ceph RGW, MinIO, R2) as a dogestry remote:
 * `s3://BUCKET[/PREFIX/][?region=…&endpoint=…&profile=…&anonymous=true]`.
 *
 * - Writes stream through reused part buffers (upload.ts: multipart for large bodies, parts
 *   in parallel); a failed upload is aborted, so nothing appears at the key.
 * - Create-only writes send `If-None-Match: *` (PutObject and CompleteMultipartUpload; 412
 *   means "exists") after a HeadObject check. The check is the documented fallback for
 *   stores that ignore the header: a race there is harmless, immutable keys being
 *   content-addressed.
 * - Reads resume with `Range` after a dropped connection; listing is ListObjectsV2 with
 *   pagination and no cap; deletes are batched DeleteObjects of up to 1000 keys.
 * - Throttling and 5xx are retried by the SDK's standard retry strategy.
 * - Checksums are computed only when required: the SDK's default flexible checksums break
 *   streamed bodies on radosgw (411 MissingContentLength).
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  ListPartsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  AuthError,
  assertSafeKey,
  type DeleteOptions,
  DogestryError,
  InvalidReferenceError,
  NotFoundError,
  type ReadOptions,
  type Remote,
  type RemoteCapabilities,
  type RemoteOptions,
  resumingBody,
  type StatResult,
  type SweepResult,
  TransportError,
  type WriteOptions,
} from '@dogestry/core/transport';
import { ATTEMPTS, clientConfig, IDLE_TIMEOUT, idleTimeout } from './client-config.js';
import { canonicalUrl, parseS3Url, type S3Location } from './location.js';
import { uploadStream } from './upload.js';

export { clientConfig } from './client-config.js';
export { parseS3Url, type S3Location } from './location.js';

/** S3 allows at most 5 GiB in one CopyObject. */
const MAX_COPY = 5 * 1024 ** 3;

export class S3Remote implements Remote {
  readonly url: string;
  readonly capabilities: RemoteCapabilities;

  constructor(
    readonly client: S3Client,
    readonly location: S3Location,
    /** Milliseconds a cleanup (a failed upload's abort) may take: one try's idle timeout. */
    private readonly cleanupMs: number,
  ) {
    this.url = canonicalUrl(location);
    this.capabilities = { write: !location.anonymous, list: true, createOnly: true };
  }

  private key(key: string): string {
    assertSafeKey(key);
    return `${this.location.prefix}${key}`;
  }

  async stat(key: string): Promise<StatResult | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
      return { size: head.ContentLength ?? 0, ...(head.LastModified ? { modified: head.LastModified } : {}) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.translate(error, `stat ${key}`);
    }
  }

  async read(key: string, opts: ReadOptions = {}): Promise<Readable | undefined> {
    if (opts.length !== undefined) {
      // A small ranged read (a blob's head or tail): no resuming needed.
      const start = opts.offset ?? 0;
      const body = await this.get(key, start, opts.length);
      return (
        body &&
        resumingBody(
          body,
          start,
          async () => undefined,
          (error) => this.translate(error, `read ${key}`),
          0,
        )
      );
    }
    const first = await this.get(key, opts.offset ?? 0);
    if (!first) return undefined;
    return resumingBody(
      first,
      opts.offset ?? 0,
      (offset) => this.get(key, offset),
      (error) => this.translate(error, `read ${key}`),
    );
  }

  private async get(key: string, offset: number, length?: number): Promise<Readable | undefined> {
    const range =
      length !== undefined ? `bytes=${offset}-${offset + Math.max(length, 1) - 1}` : offset > 0 ? `bytes=${offset}-` : undefined;
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key), ...(range ? { Range: range } : {}) }),
      );
      const body = response.Body as Readable;
      body.on('error', () => {}); // surfaced through iteration
      return body;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if ((error as { name?: string }).name === 'InvalidRange') return Readable.from([]);
      throw this.translate(error, `read ${key}`);
    }
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    const fullKey = this.key(key);
    if (!this.capabilities.write) {
      body.destroy();
      throw new AuthError(`${this.url} was opened anonymously: writing needs credentials`);
    }
    if (opts.createOnly && (await this.stat(key))) {
      for await (const _ of body) {
        // the contract: a write consumes its body
      }
      return 'exists';
    }
    try {
      await uploadStream(
        {
          client: this.client,
          bucket: this.location.bucket,
          key: fullKey,
          createOnly: opts.createOnly === true,
          cleanupMs: this.cleanupMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        body,
      );
    } catch (error) {
      if (opts.createOnly && isPreconditionFailed(error)) return 'exists';
      throw this.translate(error, `write ${key}`);
    }
    return 'written';
  }

  async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    const source = await this.stat(from);
    if (!source) throw new NotFoundError(`move: ${from} is not on ${this.url}`);
    if (opts.createOnly && (await this.stat(to))) {
      await this.delete([from]);
      return 'exists';
    }
    if (source.size > MAX_COPY) {
      // Beyond CopyObject's limit: copy through this process (rare: a layer over 5 GiB).
      const body = await this.read(from);
      if (!body) throw new NotFoundError(`move: ${from} vanished`);
      const result = await this.write(to, body, opts.createOnly ? { createOnly: true } : {});
      await this.delete([from]);
      return result;
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(to),
          CopySource: `${this.location.bucket}/${encodeURIComponent(this.key(from)).replace(/%2F/g, '/')}`,
          ...(opts.createOnly ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (error) {
      if (!(opts.createOnly && isPreconditionFailed(error))) throw this.translate(error, `move ${from} to ${to}`);
      await this.delete([from]);
      return 'exists';
    }
    await this.delete([from]);
    return 'written';
  }

  async *list(prefix: string): AsyncIterable<string> {
    if (prefix.split('/').some((part) => part === '..')) throw new InvalidReferenceError(`unsafe prefix ${JSON.stringify(prefix)}`);
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: `${this.location.prefix}${prefix}`,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (error) {
        throw this.translate(error, `list ${prefix}`);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key?.startsWith(this.location.prefix)) yield object.Key.slice(this.location.prefix.length);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[], opts: DeleteOptions = {}): Promise<void> {
    if (!this.capabilities.write) throw new AuthError(`${this.url} was opened anonymously: deleting needs credentials`);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.key(k) }));
      try {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.location.bucket, Delete: { Objects: batch, Quiet: true } }),
          opts.signal ? { abortSignal: opts.signal } : {},
        );
        const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          throw new TransportError(`delete failed for ${failed.length} key(s), first ${failed[0]?.Key}: ${failed[0]?.Code}`);
        }
      } catch (error) {
        throw this.translate(error, 'delete');
      }
    }
  }

  /**
   * Abort unfinished multipart uploads under this prefix (a push that died mid-layer) with no
   * part uploaded since `before`: they are invisible to listing but billed.
   */
  async sweep(before: Date, opts: { dryRun?: boolean } = {}): Promise<SweepResult> {
    const result = { count: 0, bytes: 0 };
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page: ListMultipartUploadsCommandOutput;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.location.bucket,
            Prefix: this.location.prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        );
      } catch (error) {
        throw this.translate(error, 'list multipart uploads');
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        const parts = await this.client
          .send(new ListPartsCommand({ Bucket: this.location.bucket, Key: upload.Key, UploadId: upload.UploadId }))
          .catch((error: unknown) => {
            if (isNotFound(error) || (error as { name?: string }).name === 'NoSuchUpload') return undefined;
            throw this.translate(error, 'list parts');
          });
        const last = Math.max(upload.Initiated?.getTime() ?? 0, ...(parts?.Parts ?? []).map((p) => p.LastModified?.getTime() ?? 0));
        if (last >= before.getTime()) continue;
        if (!opts.dryRun) {
          await this.client
            .send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: upload.Key, UploadId: upload.UploadId }))
            .catch((error: unknown) => {
              if ((error as { name?: string }).name !== 'NoSuchUpload') throw this.translate(error, 'abort multipart upload');
            });
        }
        result.count++;
        result.bytes += (parts?.Parts ?? []).reduce((n, p) => n + (p.Size ?? 0), 0);
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return result;
  }

  /** A presigned GET URL for `key`, valid `expiresIn` seconds (for pull tickets). */
  async presign(key: string, expiresIn: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }), { expiresIn });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** SDK errors -> DogestryErrors. Messages carry the bucket and key, never credentials. */
  private translate(error: unknown, what: string): Error {
    if (error instanceof DogestryError) return error;
    const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? e.Code ?? 'Error';
    const where = `${what} on ${this.url}`;
    if (
      ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError'].includes(
        name,
      ) ||
      status === 403 ||
      status === 401
    ) {
      return new AuthError(
        `${where}: ${name}: the credentials were refused or are missing; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY/AWS_SECRET_KEY), a profile, or [s3] access_key_id/secret_access_key in dogestry.cfg`,
        { cause: error },
      );
    }
    if (name === 'NoSuchBucket') return new NotFoundError(`${where}: bucket ${this.location.bucket} does not exist`, { cause: error });
    if (name === 'TimeoutError') {
      return new TransportError(
        `${where}: the store stopped answering (nothing moved for [s3] timeout, ${IDLE_TIMEOUT} s unless set; tried ${ATTEMPTS} times): check that the endpoint is up and not full, or raise [s3] timeout`,
        { cause: error, retryable: true },
      );
    }
    const retryable = status === undefined || status >= 500 || status === 429 || name === 'SlowDown' || Boolean(e.$retryable);
    return new TransportError(`${where}: ${name}${e.message && e.message !== name ? `: ${e.message}` : ''}`, { cause: error, retryable });
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}

export function createRemote(location: string, options: RemoteOptions = {}): S3Remote {
  const parsed = parseS3Url(location);
  return new S3Remote(new S3Client(clientConfig(parsed, options)), parsed, idleTimeout(options.settings?.timeout) * 1000);
}
