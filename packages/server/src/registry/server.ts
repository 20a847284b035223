/**
 * `dogestry registry`: the OCI distribution API v1.1 over any dogestry remote, so Docker,
 * Podman, skopeo and containerd pull what `dogestry push` stored and push what `dogestry pull`
 * then loads (see docs/SERVER.md). Here: listening, who may do what, routing, error bodies.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DogestryError, NotFoundError, UsageError } from '@dogestry/core';
import type { Remote } from '@dogestry/core/transport';
import { Htpasswd } from '../htpasswd.js';
import { closeServer, isLoopback, type ListenOptions, listen, parseListen } from '../listener.js';
import { RegistryError } from './errors.js';
import { answerWrite, type PushContext } from './pushes.js';
import { API_VERSION, answerRead } from './reads.js';
import { Repositories } from './repository.js';
import { route } from './routes.js';
import { Uploads } from './uploads.js';
import { RegistryWriter } from './writes.js';

export interface RegistryOptions extends ListenOptions {
  readonly remote: Remote;
  /** bcrypt htpasswd file: every request needs a user from it (reads too, unless anonymousRead). */
  readonly htpasswd?: string | undefined;
  /** Pulls without credentials. Needed to listen beyond loopback without htpasswd. */
  readonly anonymousRead?: boolean | undefined;
  /** Refuse every push and delete. */
  readonly readOnly?: boolean | undefined;
  /** One line per request (method, path, status, bytes, time, user): never credentials. */
  readonly log?: ((line: string) => void) | undefined;
}

export interface RunningRegistry {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Who may write: `users` (of --htpasswd, once authenticated), `anyone` (on loopback with no users), or nobody. */
type Writers = 'users' | 'anyone' | 'nobody';

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
  const writer = new RegistryWriter(options.remote, repositories);
  const uploads = new Uploads(options.remote, () => writer.tmpPrefix());
  // Beyond loopback, only authenticated users write: --anonymous-read opens reads, never writes.
  const writers: Writers = options.readOnly ? 'nobody' : users ? 'users' : isLoopback(host) ? 'anyone' : 'nobody';
  const access = { users, anonymousRead: options.anonymousRead ?? false, writers };
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const started = Date.now();
    let user = '-';
    let failure = '';
    serve(request, response, repositories, { writer, uploads }, access, (name) => {
      user = name;
    })
      .catch((error: unknown) => {
        failure = ` ${answerError(response, error)}`;
      })
      .finally(() => {
        options.log?.(
          `${request.method} ${request.url?.split('?')[0]} ${response.statusCode} ${response.getHeader('content-length') ?? '-'} ${Date.now() - started}ms ${user}${failure}`,
        );
      });
  };
  const { server, url } = await listen(options, handler);
  return {
    url,
    server,
    close: async () => {
      await closeServer(server);
      await uploads.close();
      await writer.close();
    },
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  repositories: Repositories,
  push: PushContext,
  access: { users: Htpasswd | undefined; anonymousRead: boolean; writers: Writers },
  identified: (user: string) => void,
): Promise<void> {
  const method = request.method ?? 'GET';
  const url = new URL(request.url ?? '/', 'http://registry');
  const target = route(url.pathname);
  // An upload's status (GET) is part of a push.
  const read = (method === 'GET' || method === 'HEAD') && target?.kind !== 'upload';
  if (access.users) {
    const user = await access.users.check(request.headers.authorization);
    if (user) identified(user);
    else if (!(read && access.anonymousRead)) {
      throw new RegistryError(401, 'UNAUTHORIZED', 'authentication required', { 'WWW-Authenticate': 'Basic realm="dogestry"' });
    }
  }
  if (!target) throw new RegistryError(404, 'NAME_UNKNOWN', `no such endpoint ${url.pathname}`);
  if (read) return answerRead(target, url, method === 'HEAD', request, response, repositories);
  if (access.writers === 'nobody') {
    throw new RegistryError(
      405,
      'UNSUPPORTED',
      'this registry serves pulls only (started with --read-only, or beyond loopback without --htpasswd users to push)',
    );
  }
  await answerWrite(target, url, method, request, response, push);
}

/** Answer with the spec's error body; answers the code and message, for the log (never credentials: messages hold none). */
function answerError(response: ServerResponse, thrown: unknown): string {
  const error =
    thrown instanceof RegistryError
      ? thrown
      : thrown instanceof NotFoundError
        ? new RegistryError(404, 'BLOB_UNKNOWN', thrown.message)
        : thrown instanceof DogestryError
          ? thrown.code === 'READ_ONLY'
            ? new RegistryError(405, 'UNSUPPORTED', `this registry cannot write to its remote: ${thrown.message}`)
            : new RegistryError(
                thrown.code === 'AUTH' || thrown.code === 'EXPIRED' ? 503 : 500,
                'UNSUPPORTED',
                `the remote failed: ${thrown.message}`,
              )
          : new RegistryError(500, 'UNSUPPORTED', 'internal error');
  if (response.headersSent) {
    response.destroy();
    return `${error.code} (cut short) ${error.message}`;
  }
  const body = error.body();
  response.writeHead(error.status, {
    ...API_VERSION,
    ...error.headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
  return `${error.code} ${error.message}`;
}
