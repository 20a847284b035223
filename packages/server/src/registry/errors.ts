/** The OCI distribution spec's error codes and bodies: `{"errors":[{"code","message","detail"}]}`. */

export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'SIZE_INVALID'
  | 'DIGEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS';

/** An error a handler answers with: its HTTP status and the spec's code. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: OciErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): string {
    return JSON.stringify({ errors: [{ code: this.code, message: this.message, detail: null }] });
  }
}

export const nameUnknown = (name: string) => new RegistryError(404, 'NAME_UNKNOWN', `repository ${name} is not known to this registry`);
export const manifestUnknown = (name: string, reference: string) =>
  new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${name}`);
export const blobUnknown = (name: string, digest: string) =>
  new RegistryError(404, 'BLOB_UNKNOWN', `blob ${digest} is not in repository ${name}`);
