/**
 * Every failure dogestry reports on purpose is a `DogestryError` with a stable `code`
 * (for scripts and `--json`), an `exitCode` (for the CLI) and `retryable` (for callers
 * deciding whether to try again). Messages say what happened and what to do; they never
 * contain credentials.
 */
export class DogestryError extends Error {
  static readonly code: string = 'DOGESTRY';
  static readonly exitCode: number = 1;
  readonly retryable: boolean;
  /** What the failed operation found, where it has a report (verify, a partial pull); `--json` prints it beside the error. */
  readonly report: object | undefined;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean; report?: object } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
    this.report = options.report;
  }

  get code(): string {
    return (this.constructor as typeof DogestryError).code;
  }

  get exitCode(): number {
    return (this.constructor as typeof DogestryError).exitCode;
  }

  toJSON(): { code: string; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** A name, tag, digest, URL or option that can never be valid. Nothing was touched. */
export class InvalidReferenceError extends DogestryError {
  static override readonly code = 'INVALID_REFERENCE';
  static override readonly exitCode = 2;
}

/** A command line that cannot be right: an unknown flag, a missing argument, a value not among a flag's options. */
export class UsageError extends DogestryError {
  static override readonly code = 'USAGE';
  static override readonly exitCode = 2;
}

/** dogestry.cfg is unreadable, or names a remote alias that does not exist. */
export class ConfigError extends DogestryError {
  static override readonly code = 'CONFIG';
  static override readonly exitCode = 2;
}

/** An image, tag or blob that is not on the remote or the engine. */
export class NotFoundError extends DogestryError {
  static override readonly code = 'NOT_FOUND';
  static override readonly exitCode = 3;
}

/** An id prefix that matches more than one image. */
export class AmbiguousReferenceError extends DogestryError {
  static override readonly code = 'AMBIGUOUS_REFERENCE';
  static override readonly exitCode = 3;
}

/** Bytes read from a remote do not hash to the digest they are stored under. */
export class DigestMismatchError extends DogestryError {
  static override readonly code = 'DIGEST_MISMATCH';
  static override readonly exitCode = 4;
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${key} is corrupt: expected ${expected}, got ${actual}. Nothing was loaded; run \`dogestry verify\` on the remote and push the image again.`,
    );
  }
}

/** A remote (or a part of it) is not what dogestry can read: wrong format version, bad JSON. */
export class FormatError extends DogestryError {
  static override readonly code = 'FORMAT';
  static override readonly exitCode = 4;
}

/** What a reference names is an image index or an OCI artifact (a Helm chart, a signature), not one image an engine can load. */
export class NotAnImageError extends DogestryError {
  static override readonly code = 'NOT_AN_IMAGE';
  static override readonly exitCode = 4;
}

/** The remote refused our credentials, or we have none. */
export class AuthError extends DogestryError {
  static override readonly code = 'AUTH';
  static override readonly exitCode = 5;
}

/** A presigned ticket or URL whose time is up. */
export class ExpiredError extends DogestryError {
  static override readonly code = 'EXPIRED';
  static override readonly exitCode = 5;
}

/** A write to a remote that only allows reads. */
export class ReadOnlyError extends DogestryError {
  static override readonly code = 'READ_ONLY';
  static override readonly exitCode = 6;
}

/** The remote cannot do what was asked (for example list keys on a plain static server). */
export class UnsupportedError extends DogestryError {
  static override readonly code = 'UNSUPPORTED';
  static override readonly exitCode = 6;
}

/** The storage behind a remote failed: network, server error, disk full. */
export class TransportError extends DogestryError {
  static override readonly code = 'TRANSPORT';
  static override readonly exitCode = 7;
}

/** A URL scheme no transport handles, or whose transport package is not installed. */
export class UnknownTransportError extends DogestryError {
  static override readonly code = 'UNKNOWN_TRANSPORT';
  static override readonly exitCode = 2;
}

/** The Docker (or Podman) engine cannot be reached. */
export class EngineUnreachableError extends DogestryError {
  static override readonly code = 'ENGINE_UNREACHABLE';
  static override readonly exitCode = 8;
}

/** The engine answered but failed: a save or load that went wrong. */
export class EngineError extends DogestryError {
  static override readonly code = 'ENGINE';
  static override readonly exitCode = 8;
}

/** `verify` found blobs that are missing or corrupt; `report` holds everything it found. */
export class VerifyFailedError extends DogestryError {
  static override readonly code = 'VERIFY_FAILED';
  static override readonly exitCode = 4;
}

/**
 * A remote holds something this dogestry must not follow or overwrite: a symlink inside a
 * directory remote (which could lead a write or read outside it).
 */
export class UnsafeRemoteError extends DogestryError {
  static override readonly code = 'UNSAFE_REMOTE';
  static override readonly exitCode = 4;
}

/** A remote written by dogestry 0.x/1.x (`images/<id>/layer.tar`): never modified by this version. */
export class LegacyFormatError extends DogestryError {
  static override readonly code = 'LEGACY_FORMAT';
  static override readonly exitCode = 4;
}

/** A remote uses a format feature this dogestry does not know: what depends on it is refused. */
export class UpgradeRequiredError extends DogestryError {
  static override readonly code = 'UPGRADE_REQUIRED';
  static override readonly exitCode = 4;
}

/** The local pull cache failed (disk full, permissions): the remote and the engine are fine. */
export class CacheError extends DogestryError {
  static override readonly code: string = 'CACHE';
  static override readonly exitCode = 9;
}

/** A cached blob that no longer hashes to its digest: evicted; pull fetches it again. */
export class CacheCorruptError extends CacheError {
  static override readonly code = 'CACHE_CORRUPT';
}

/**
 * A pull into several engines (`--pull-hosts`) loaded some and failed on others; `report` is
 * the pull's result, with each failed engine's error.
 */
export class PartialPullError extends DogestryError {
  static override readonly code = 'PARTIAL';
  static override readonly exitCode = 10;
}

/** The operation was cancelled by its caller (an AbortSignal). */
export class AbortedError extends DogestryError {
  static override readonly code = 'ABORTED';
  static override readonly exitCode = 130;
}
