/**
 * The pull side of the distribution API: `/v2/`, catalog and tags (with `n`/`last`), manifests
 * and blobs (GET and HEAD, `Range`), and the referrers API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bytesPassed } from '@dogestry/core/internal';
import { RegistryError } from './errors.js';
import type { Repositories } from './repository.js';
import type { Route } from './routes.js';

export const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };
const PAGE_MAX = 1000;
const INDEX = 'application/vnd.oci.image.index.v1+json';

export async function answerRead(
  target: Route,
  url: URL,
  head: boolean,
  request: IncomingMessage,
  response: ServerResponse,
  repositories: Repositories,
): Promise<void> {
  switch (target.kind) {
    case 'base':
      return json(response, head, {});
    case 'catalog': {
      const page = paginate(await repositories.names(), url);
      if (page.next) response.setHeader('Link', `</v2/_catalog?n=${page.n}&last=${encodeURIComponent(page.next)}>; rel="next"`);
      return json(response, head, { repositories: page.items });
    }
    case 'tags': {
      const page = paginate(await repositories.tags(target.name), url);
      if (page.next)
        response.setHeader('Link', `</v2/${target.name}/tags/list?n=${page.n}&last=${encodeURIComponent(page.next)}>; rel="next"`);
      return json(response, head, { name: target.name, tags: page.items });
    }
    case 'manifest': {
      const manifest = await repositories.manifest(target.name, target.reference);
      response.writeHead(200, {
        ...API_VERSION,
        'Content-Type': manifest.mediaType,
        'Content-Length': manifest.bytes.length,
        'Docker-Content-Digest': manifest.digest,
      });
      response.end(head ? undefined : manifest.bytes);
      return;
    }
    case 'blob':
      return answerBlob(target, head, request, response, repositories);
    case 'referrers': {
      // Every referrer, unfiltered: `artifactType` filtering is optional in the spec (clients filter
      // what comes without OCI-Filters-Applied), and the conformance suite this project runs
      // (distribution-spec 46cff19) expects that header to echo the type, against spec v1.1.0.
      const manifests = await repositories.referrers(target.name, target.digest.slice('sha256:'.length));
      response.setHeader('Content-Type', INDEX);
      return json(response, head, { schemaVersion: 2, mediaType: INDEX, manifests }, false);
    }
    case 'upload':
      throw new RegistryError(405, 'UNSUPPORTED', 'uploads take POST, PATCH, PUT, GET or DELETE');
  }
}

async function answerBlob(
  target: Extract<Route, { kind: 'blob' }>,
  head: boolean,
  request: IncomingMessage,
  response: ServerResponse,
  repositories: Repositories,
): Promise<void> {
  const blob = await repositories.blob(target.name, target.digest);
  const range = parseRange(request.headers.range, blob.size);
  if (range === 'unsatisfiable') {
    throw new RegistryError(416, 'BLOB_UNKNOWN', `range ${request.headers.range} is outside the blob's ${blob.size} bytes`, {
      'Content-Range': `bytes */${blob.size}`,
    });
  }
  const [start, end] = range ?? [0, blob.size - 1];
  response.writeHead(range ? 206 : 200, {
    ...API_VERSION,
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': target.digest,
    'Accept-Ranges': 'bytes',
    'Content-Length': Math.max(0, end - start + 1),
    ...(range ? { 'Content-Range': `bytes ${start}-${end}/${blob.size}` } : {}),
  });
  if (head || blob.size === 0) {
    response.end();
    return;
  }
  response.flushHeaders(); // the client sees the answer start while the remote is read
  // Straight to the socket, one chunk ahead at most (no stream of its own queueing more). A blob
  // that fails its digest while streaming ends the answer short: the client sees it fail.
  try {
    for await (const chunk of await blob.open(start, end)) {
      if (response.destroyed) return; // the client went away: reading stops here
      if (!response.write(chunk)) await drained(response);
      bytesPassed(chunk.length);
    }
    response.end();
  } catch (error) {
    response.destroy(error as Error);
  }
}

/** The socket took what was written, or went away. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (response.destroyed) return resolve();
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

export function json(response: ServerResponse, head: boolean, value: unknown, setType = true): void {
  const body = Buffer.from(JSON.stringify(value));
  response.writeHead(200, {
    ...API_VERSION,
    ...(setType ? { 'Content-Type': 'application/json' } : {}),
    'Content-Length': body.length,
  });
  response.end(head ? undefined : body);
}

/** The spec's `n` and `last`: at most n items after `last`, in lexical order, and where the next page starts. */
function paginate(items: readonly string[], url: URL): { items: string[]; n: number; next?: string } {
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  const n = nParam === null ? PAGE_MAX : Number(nParam);
  if (!Number.isInteger(n) || n < 0) throw new RegistryError(400, 'UNSUPPORTED', `n=${nParam} is not a count`);
  const after = last === null ? items : items.filter((item) => item > last);
  const page = after.slice(0, Math.min(n, PAGE_MAX));
  const next = after.length > page.length && page.length > 0 ? page[page.length - 1] : undefined;
  return next === undefined ? { items: page, n } : { items: page, n, next };
}

/** A single `bytes=a-b` range (or `a-`, `-suffix`) within `size`; undefined for none or several. */
function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return [start, end];
}
