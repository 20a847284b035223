/**
 * `dogestry registry`: the pull side of the OCI distribution API v1.1 over any dogestry remote,
 * so Docker, Podman, skopeo and containerd pull what `dogestry push` stored. Read-only: the
 * push side answers UNSUPPORTED (see docs/SERVER.md).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DogestryError, NotFoundError, UsageError } from '@dogestry/core';
import type { Remote } from '@dogestry/core/transport';
import { Htpasswd } from '../htpasswd.js';
import { isLoopback, type ListenOptions, listen, parseListen } from '../listener.js';
import { RegistryError } from './errors.js';
import { Repositories } from './repository.js';
import { type Route, route } from './routes.js';

export interface RegistryOptions extends ListenOptions {
  readonly remote: Remote;
  /** bcrypt htpasswd file: every request needs a user from it (reads too, unless anonymousRead). */
  readonly htpasswd?: string | undefined;
  /** Pulls without credentials. Needed to listen beyond loopback without htpasswd. */
  readonly anonymousRead?: boolean | undefined;
  /** One line per request (method, path, status, bytes, time, user): never credentials. */
  readonly log?: ((line: string) => void) | undefined;
}

export interface RunningRegistry {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };
const PAGE_MAX = 1000;

export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const { host } = parseListen(options.listen);
  const tls = Boolean(options.tlsCert);
  if (!isLoopback(host) && !options.htpasswd && !options.anonymousRead) {
    throw new UsageError(
      `refusing to serve ${options.remote.url} on ${options.listen} to anyone who can reach it: give --htpasswd FILE for users, or --anonymous-read to let anyone pull`,
    );
  }
  if (options.htpasswd && !tls && !isLoopback(host)) {
    throw new UsageError(
      `passwords would cross the network in clear on ${options.listen}: give --tls-cert and --tls-key, or listen on 127.0.0.1`,
    );
  }
  const users = options.htpasswd ? new Htpasswd(options.htpasswd) : undefined;
  const repositories = new Repositories(options.remote);
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const started = Date.now();
    let user = '-';
    serve(request, response, repositories, users, options.anonymousRead ?? false, (name) => {
      user = name;
    })
      .catch((error: unknown) => answerError(response, error))
      .finally(() => {
        options.log?.(
          `${request.method} ${request.url?.split('?')[0]} ${response.statusCode} ${response.getHeader('content-length') ?? '-'} ${Date.now() - started}ms ${user}`,
        );
      });
  };
  const { server, url } = await listen(options, handler);
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  repositories: Repositories,
  users: Htpasswd | undefined,
  anonymousRead: boolean,
  identified: (user: string) => void,
): Promise<void> {
  const method = request.method ?? 'GET';
  const read = method === 'GET' || method === 'HEAD';
  if (users) {
    const user = await users.check(request.headers.authorization);
    if (user) identified(user);
    else if (!(read && anonymousRead)) {
      throw new RegistryError(401, 'UNAUTHORIZED', 'authentication required', { 'WWW-Authenticate': 'Basic realm="dogestry"' });
    }
  }
  const url = new URL(request.url ?? '/', 'http://registry');
  const target = route(url.pathname);
  if (!target) throw new RegistryError(404, 'NAME_UNKNOWN', `no such endpoint ${url.pathname}`);
  if (!read) {
    throw new RegistryError(
      405,
      'UNSUPPORTED',
      'this registry serves pulls only: push with `dogestry push` (the registry push side is not in this version)',
    );
  }
  await answer(target, url, method === 'HEAD', request, response, repositories);
}

async function answer(
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
    case 'blob': {
      const blob = await repositories.blob(target.name, target.digest);
      const range = parseRange(request.headers.range, blob.size);
      const headers = {
        ...API_VERSION,
        'Content-Type': 'application/octet-stream',
        'Docker-Content-Digest': target.digest,
        'Accept-Ranges': 'bytes',
      };
      if (range === 'unsatisfiable') {
        throw new RegistryError(416, 'BLOB_UNKNOWN', `range ${request.headers.range} is outside the blob's ${blob.size} bytes`, {
          'Content-Range': `bytes */${blob.size}`,
        });
      }
      const [start, end] = range ?? [0, blob.size - 1];
      response.writeHead(range ? 206 : 200, {
        ...headers,
        'Content-Length': Math.max(0, end - start + 1),
        ...(range ? { 'Content-Range': `bytes ${start}-${end}/${blob.size}` } : {}),
      });
      if (head || blob.size === 0) {
        response.end();
        return;
      }
      response.flushHeaders(); // the client sees the answer start while the remote is read
      // A blob that fails its digest while streaming ends the answer short: the client sees it fail.
      await pipeline(Readable.from(await blob.open(start, end)), response).catch((error: unknown) => {
        response.destroy(error as Error);
      });
      return;
    }
    case 'referrers':
      // Nothing stored here refers to another manifest: the empty index is the truthful answer.
      response.setHeader('Content-Type', 'application/vnd.oci.image.index.v1+json');
      return json(response, head, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }, false);
    case 'upload':
      throw new RegistryError(405, 'UNSUPPORTED', 'this registry serves pulls only');
  }
}

function json(response: ServerResponse, head: boolean, value: unknown, setType = true): void {
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

function answerError(response: ServerResponse, thrown: unknown): void {
  const error =
    thrown instanceof RegistryError
      ? thrown
      : thrown instanceof NotFoundError
        ? new RegistryError(404, 'BLOB_UNKNOWN', thrown.message)
        : thrown instanceof DogestryError
          ? new RegistryError(
              thrown.code === 'AUTH' || thrown.code === 'EXPIRED' ? 503 : 500,
              'UNSUPPORTED',
              `the remote failed: ${thrown.message}`,
            )
          : new RegistryError(500, 'UNSUPPORTED', 'internal error');
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = error.body();
  response.writeHead(error.status, {
    ...API_VERSION,
    ...error.headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
}
