import type { Readable } from 'node:stream';
import { InvalidReferenceError } from './errors.js';

/** What a remote can do; core checks these before it asks, so errors come before bytes move. */
export interface RemoteCapabilities {
  /** `write`, `delete` and `move` are allowed. */
  readonly write: boolean;
  /** `list` works. Pull never needs it; `images`, `tags`, `verify`, `gc` and id-prefix lookup do. */
  readonly list: boolean;
  /** `write(..., { createOnly: true })` is atomic: two racing writers cannot both get `'written'`. */
  readonly createOnly: boolean;
}

export interface StatResult {
  /** Stored size in bytes (after any encoding). */
  readonly size: number;
  /** When the object was last written, where the storage knows it. */
  readonly modified?: Date;
}

export interface WriteOptions {
  /** The body's length when the caller knows it; transports may use it (Content-Length, multipart sizing). */
  readonly size?: number;
  /**
   * Immutable key: if an object is already there, leave it and answer `'exists'`. Never overwrite.
   * Where the storage cannot do this atomically (`capabilities.createOnly` false) the transport
   * checks first and accepts the small race, which is harmless because immutable keys are
   * content-addressed: both writers write the same bytes.
   */
  readonly createOnly?: boolean;
  readonly signal?: AbortSignal;
}

/**
 * A remote is a dumb key/value byte store. All format logic lives in core; a transport only
 * moves bytes. Keys are relative, `/`-separated, never start with `/`, never contain `..`.
 *
 * Contract, checked by the conformance suite (`@dogestry/core/conformance`):
 * - Absent is not an error: `stat` and `read` answer `undefined` for a missing key.
 * - `write` consumes `body` as a stream and never buffers a whole object in memory. If `body`
 *   errors or is destroyed, or the write fails, nothing is left at `key` (a partial object
 *   may never be visible at a final key) and the promise rejects with the body's error.
 * - `write` with `createOnly` never replaces an existing object.
 * - A write without `createOnly` replaces the object atomically: readers see old or new bytes.
 * - `list(prefix)` yields every key that starts with `prefix`, recursively, in any order.
 * - `delete` of a missing key is not an error.
 * - Errors are `DogestryError`s: `AuthError`, `ReadOnlyError`, `TransportError` (with
 *   `retryable` set for throttling and 5xx), never raw SDK or socket errors.
 * - `url` is canonical and has credentials stripped; it is safe to print.
 */
export interface Remote {
  readonly url: string;
  readonly capabilities: RemoteCapabilities;
  stat(key: string): Promise<StatResult | undefined>;
  /**
   * A stream of the stored bytes from `offset` (default 0), or `undefined` if absent. With
   * `length`, at most that many bytes (a transport may ignore it: callers stop reading).
   */
  read(key: string, opts?: ReadOptions): Promise<Readable | undefined>;
  write(key: string, body: Readable, opts?: WriteOptions): Promise<'written' | 'exists'>;
  /**
   * Optional: rename `from` to `to` without moving bytes through this process (fs rename,
   * S3 server-side copy, WebDAV MOVE). With `createOnly`, an existing `to` is kept and
   * `from` is deleted. Core falls back to read+write where a transport lacks it.
   */
  move?(from: string, to: string, opts?: { createOnly?: boolean }): Promise<'written' | 'exists'>;
  list(prefix: string): AsyncIterable<string>;
  delete(keys: readonly string[], opts?: DeleteOptions): Promise<void>;
  /**
   * Optional: find out whether a capability is there before core reads `capabilities` for
   * it. 'write' may send requests that modify the storage (a probe write); 'list' reads only.
   * Core calls it right before it needs the capability, so a read-only use never probes.
   */
  prepare?(need: 'write' | 'list'): Promise<void>;
  /**
   * Optional: remove what this transport itself leaves behind when a write dies (a directory's
   * temporary files, S3's unfinished multipart uploads) with no activity since `before`. gc
   * calls it; keys under `tmp/` are core's and are not the transport's to sweep.
   */
  sweep?(before: Date, opts?: { dryRun?: boolean }): Promise<SweepResult>;
  /** Optional: a URL that lets anyone GET `key` for `expiresIn` seconds, with no credentials (S3 presigning). */
  presign?(key: string, expiresIn: number): Promise<string>;
  close?(): Promise<void>;
}

export interface SweepResult {
  readonly count: number;
  readonly bytes: number;
}

export interface DeleteOptions {
  /**
   * Ends the delete early, for a cleanup that must not hold its caller (a lease's release, once
   * its push is over). Keys not yet deleted stay. Transports whose deletes cannot hang may
   * ignore it.
   */
  readonly signal?: AbortSignal;
}

export interface ReadOptions {
  readonly offset?: number;
  readonly length?: number;
  readonly signal?: AbortSignal;
}

/** Options every transport factory receives from core. */
export interface RemoteOptions {
  /** Settings from dogestry.cfg (`[s3]`, `[http]`, or the `[remote "NAME"]` section). */
  readonly settings?: Readonly<Record<string, string | undefined>>;
  /** Environment to read credentials from (defaults to `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Credentials `dogestry login` stored for this remote (same keys as `settings`:
   * `access_key_id`/`secret_access_key`/`session_token`, `username`/`password`, `token`).
   * Precedence: the URL's own user info, then the environment, then these, then `settings`,
   * then the SDK's chain.
   */
  readonly credentials?: Readonly<Record<string, string | undefined>>;
}

/** What a transport package exports as `createRemote`. */
export type RemoteFactory = (url: string, options: RemoteOptions) => Promise<Remote> | Remote;

/** Reject keys that could escape a remote's root. Transports call this on every key. */
export function assertSafeKey(key: string): void {
  if (
    key.length === 0 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key.split('/').some((part) => part === '..' || part === '.' || part === '')
  ) {
    throw new InvalidReferenceError(`unsafe remote key ${JSON.stringify(key)}`);
  }
}
