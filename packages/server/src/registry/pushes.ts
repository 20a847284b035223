/**
 * The push side of the distribution API: blob uploads (monolithic POST or PUT, streamed or
 * chunked PATCH with `Content-Range`, cross-repository mount, status and cancel), manifest
 * PUT, and DELETE of manifests, tags and blobs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { format } from '@dogestry/core/internal';
import { readBody } from '../body.js';
import { RegistryError } from './errors.js';
import { API_VERSION } from './reads.js';
import { checkName, isDigest, type Route } from './routes.js';
import type { Upload, Uploads } from './uploads.js';
import type { RegistryWriter } from './writes.js';

export interface PushContext {
  readonly writer: RegistryWriter;
  readonly uploads: Uploads;
}

export async function answerWrite(
  target: Route,
  url: URL,
  method: string,
  request: IncomingMessage,
  response: ServerResponse,
  context: PushContext,
): Promise<void> {
  if (target.kind === 'upload') return answerUpload(target, url, method, request, response, context);
  if (target.kind === 'manifest' && method === 'PUT') {
    const limit = format.MAX_MANIFEST_SIZE;
    const bytes = await readBody(request, limit, () => new RegistryError(413, 'SIZE_INVALID', `a manifest is at most ${limit} bytes`));
    const contentType = request.headers['content-type']?.split(';')[0]?.trim();
    const { hex, manifest } = await context.writer.putManifest(target.name, target.reference, bytes, contentType);
    return answer(response, 201, {
      Location: `/v2/${target.name}/manifests/sha256:${hex}`,
      'Docker-Content-Digest': `sha256:${hex}`,
      ...(manifest.subject ? { 'OCI-Subject': manifest.subject.digest } : {}),
    });
  }
  if (target.kind === 'manifest' && method === 'DELETE') {
    await context.writer.deleteManifest(target.name, target.reference);
    return answer(response, 202, {});
  }
  if (target.kind === 'blob' && method === 'DELETE') {
    const hex = target.digest.slice('sha256:'.length);
    if (!(await context.writer.deleteBlob(target.name, hex))) {
      throw new RegistryError(404, 'BLOB_UNKNOWN', `blob ${target.digest} was not uploaded to repository ${target.name}`);
    }
    return answer(response, 202, {});
  }
  throw new RegistryError(405, 'UNSUPPORTED', `${method} is not an operation on ${url.pathname}`);
}

async function answerUpload(
  target: Extract<Route, { kind: 'upload' }>,
  url: URL,
  method: string,
  request: IncomingMessage,
  response: ServerResponse,
  { writer, uploads }: PushContext,
): Promise<void> {
  const { name } = target;
  if (target.id === undefined) {
    if (method !== 'POST') throw new RegistryError(405, 'UNSUPPORTED', 'start an upload with POST');
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount !== null && from !== null && isDigest(mount) && (await writer.mount(name, checkName(from), mount.slice(7)))) {
      await drain(request);
      return blobCreated(response, name, mount.slice(7));
    }
    await writer.prepare();
    const upload = await uploads.open(name);
    const digest = url.searchParams.get('digest');
    if (digest === null) {
      await drain(request);
      return uploadStatus(response, 202, name, upload);
    }
    // Monolithic: the whole blob in the POST.
    return completeUpload(request, response, name, upload, digest, { writer, uploads });
  }
  const upload = uploads.get(name, target.id);
  switch (method) {
    case 'GET':
      return uploadStatus(response, 204, name, upload);
    case 'DELETE':
      await uploads.drop(upload);
      return answer(response, 204, {});
    case 'PATCH':
      await appendChunk(request, upload, uploads);
      return uploadStatus(response, 202, name, upload);
    case 'PUT': {
      const digest = url.searchParams.get('digest');
      return completeUpload(request, response, name, upload, digest, { writer, uploads });
    }
    default:
      throw new RegistryError(405, 'UNSUPPORTED', `${method} is not an upload operation`);
  }
}

/** The next chunk of a session: it must start where the bytes so far end (`Content-Range`, when given). */
async function appendChunk(request: IncomingMessage, upload: Upload, uploads: Uploads, last = false): Promise<void> {
  const range = request.headers['content-range'];
  const match = range === undefined ? undefined : /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(range.trim());
  if (range !== undefined && (!match || Number(match[1]) !== upload.size || Number(match[2]) < Number(match[1]))) {
    throw outOfOrder(upload, `Content-Range ${range} does not continue the ${upload.size} bytes received`);
  }
  if (upload.busy) throw outOfOrder(upload, 'another chunk of this upload is still arriving');
  upload.busy = true;
  try {
    await upload.append(uploads.remote, request, last);
  } catch (error) {
    await uploads.drop(upload); // part of a chunk went in: the session cannot go on
    throw error;
  } finally {
    upload.busy = false;
  }
}

async function completeUpload(
  request: IncomingMessage,
  response: ServerResponse,
  name: string,
  upload: Upload,
  digest: string | null,
  { writer, uploads }: PushContext,
): Promise<void> {
  if (digest === null || !isDigest(digest)) {
    await drain(request);
    throw new RegistryError(400, 'DIGEST_INVALID', `the upload's end needs ?digest=sha256:<64 hex digits>, got ${JSON.stringify(digest)}`);
  }
  if (hasBody(request)) await appendChunk(request, upload, uploads, true);
  const hex = await upload.finish(uploads.remote);
  if (`sha256:${hex}` !== digest) {
    await uploads.drop(upload);
    throw new RegistryError(400, 'DIGEST_INVALID', `the ${upload.size} bytes uploaded hash to sha256:${hex}, not ${digest}`);
  }
  await uploads.complete(upload, hex);
  await writer.linkBlob(name, hex, upload.size);
  return blobCreated(response, name, hex);
}

function blobCreated(response: ServerResponse, name: string, hex: string): void {
  answer(response, 201, { Location: `/v2/${name}/blobs/sha256:${hex}`, 'Docker-Content-Digest': `sha256:${hex}` });
}

function uploadStatus(response: ServerResponse, status: number, name: string, upload: Upload): void {
  answer(response, status, {
    Location: `/v2/${name}/blobs/uploads/${upload.id}`,
    Range: `0-${Math.max(upload.size - 1, 0)}`,
    'Docker-Upload-UUID': upload.id,
  });
}

function outOfOrder(upload: Upload, message: string): RegistryError {
  return new RegistryError(416, 'BLOB_UPLOAD_INVALID', message, {
    Location: `/v2/${upload.name}/blobs/uploads/${upload.id}`,
    Range: `0-${Math.max(upload.size - 1, 0)}`,
  });
}

function answer(response: ServerResponse, status: number, headers: Record<string, string>): void {
  response.writeHead(status, { ...API_VERSION, ...headers, 'Content-Length': 0 });
  response.end();
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return length === undefined ? request.headers['transfer-encoding'] !== undefined : Number(length) > 0;
}

async function drain(request: IncomingMessage): Promise<void> {
  for await (const _ of request) {
    // discarded: this endpoint takes no body
  }
}
