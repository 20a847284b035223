/**
 * `dogestry serve`: the host agent. On each Docker host, it pulls for a deploy machine into the
 * host's own engine, so the deploy machine's link carries no layer bytes: it hands over a
 * presigned pull ticket made for that pull (hosts hold no cloud credentials), or names a
 * remote the host's own config knows. Protocol v1 (docs/SERVER.md): `GET /v1/info`,
 * `POST /v1/pulls` answering NDJSON progress and a last `result` or `error` line,
 * `DELETE /v1/pulls/<id>`. It never proxies the Docker API, and pulls from no URL a caller
 * makes up: only through tickets whose URLs all share one origin (HTTPS, or plain HTTP on
 * loopback), or from remotes named in its own config.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { type DockerEngine, DogestryError, InvalidReferenceError, type PullTicket, UsageError } from '@dogestry/core';
import { openTicket } from '@dogestry/core/internal';
import { isPullTicket } from '@dogestry/core/transport';
import { readBody } from '../body.js';
import { closeServer, isLoopback, type ListenOptions, listen, parseListen } from '../listener.js';
import { AgentPulls, type PullEvent, type PullRequest } from './pulls.js';
import { bearerMatches } from './token.js';

export const AGENT_PROTOCOL = 1;
export const DEFAULT_AGENT_PORT = 22375;

export interface AgentOptions extends ListenOptions {
  readonly engine: DockerEngine;
  /** The bearer token callers must send: required beyond loopback. */
  readonly token?: string | undefined;
  /** A remote alias from this host's config, as core's functions take it; undefined for a name it does not know. */
  readonly remoteNamed: (alias: string) => { remote: string; remoteOptions: { settings?: Record<string, string | undefined> } } | undefined;
  readonly cacheDir?: string | undefined;
  readonly version: string;
  readonly log?: ((line: string) => void) | undefined;
}

export interface RunningAgent {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

class AgentError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { host } = parseListen(options.listen);
  if (!isLoopback(host) && !options.token) {
    throw new UsageError(
      `refusing to take pulls on ${options.listen} from anyone who can reach it: give --token-file FILE (or DOGESTRY_SERVER_TOKEN), and the same token to the clients`,
    );
  }
  if (options.token && !options.tlsCert && !isLoopback(host)) {
    options.log?.(
      `warning: the token crosses the network in clear on ${options.listen}; tickets are sent only over TLS or to loopback: give --tls-cert and --tls-key`,
    );
  }
  const pulls = new AgentPulls(options.engine, options.cacheDir);
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const started = Date.now();
    serve(request, response, options, pulls)
      .catch((error: unknown) => answerError(response, error))
      .finally(() => options.log?.(`${request.method} ${request.url?.split('?')[0]} ${response.statusCode} ${Date.now() - started}ms`));
  };
  const { server, url } = await listen(options, handler);
  return {
    url,
    server,
    close: async () => {
      pulls.cancelAll();
      await closeServer(server);
    },
  };
}

async function serve(request: IncomingMessage, response: ServerResponse, options: AgentOptions, pulls: AgentPulls): Promise<void> {
  if (options.token && !bearerMatches(request.headers.authorization, options.token)) {
    throw new AgentError(
      401,
      'AUTH',
      'this dogestry server needs its token: set DOGESTRY_SERVER_TOKEN or --server-token-file on the client',
    );
  }
  const path = new URL(request.url ?? '/', 'http://agent').pathname;
  if (request.method === 'GET' && path === '/v1/info') {
    const engine = await options.engine.info().catch((error: Error) => ({ error: error.message }));
    return json(response, 200, { dogestry: options.version, protocol: AGENT_PROTOCOL, engine });
  }
  if (request.method === 'POST' && path === '/v1/pulls') return startPull(request, response, options, pulls);
  const cancel = /^\/v1\/pulls\/([0-9a-f-]{36})$/.exec(path);
  if (request.method === 'DELETE' && cancel) {
    const running = pulls.get(cancel[1] as string);
    if (!running) throw new AgentError(404, 'NOT_FOUND', `no pull ${cancel[1]} is running here`);
    running.cancel();
    return json(response, 202, { cancelled: running.id });
  }
  throw new AgentError(
    404,
    'NOT_FOUND',
    `no endpoint ${request.method} ${path} (protocol v${AGENT_PROTOCOL}: GET /v1/info, POST /v1/pulls)`,
  );
}

async function startPull(request: IncomingMessage, response: ServerResponse, options: AgentOptions, pulls: AgentPulls): Promise<void> {
  const body = await readJson(request);
  const image = body.image;
  if (typeof image !== 'string' || image.length === 0 || image.length > 512) throw new AgentError(400, 'USAGE', 'the pull names no image');
  const pullRequest = body.ticket !== undefined ? fromTicket(body.ticket, image) : fromAlias(body.remote, image, options);
  const running = pulls.start(pullRequest);
  options.log?.(`pull ${image} started (${running.id}) for ${request.socket.remoteAddress}`);
  response.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Dogestry-Pull-Id': running.id });
  response.flushHeaders();
  await new Promise<void>((resolve) => {
    const stop = running.follow((event: PullEvent) => {
      response.write(`${JSON.stringify(event)}\n`);
      if (event.type === 'result' || event.type === 'error') {
        response.end();
        resolve();
      }
    });
    // A caller that goes away stops following (and, the last one, the pull).
    response.on('close', () => {
      stop();
      resolve();
    });
  });
}

/** A pull through a ticket: for exactly the image it was made for, from URLs of one origin, HTTPS unless on loopback. */
function fromTicket(value: unknown, image: string): PullRequest {
  if (!isPullTicket(value)) throw new AgentError(400, 'INVALID_REFERENCE', 'the ticket is not a dogestry pull ticket');
  const ticket = value as PullTicket;
  if (ticket.image !== image) {
    throw new AgentError(403, 'AUTH', `the ticket is for ${ticket.image}, not ${image}: ask the client for a ticket for this image`);
  }
  const origins = new Set<string>();
  for (const url of Object.values(ticket.objects)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AgentError(400, 'INVALID_REFERENCE', 'the ticket holds a URL that is none');
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopback(parsed.hostname))) {
      throw new AgentError(
        403,
        'AUTH',
        `the ticket points at ${parsed.protocol}//${parsed.host}: this server fetches tickets over HTTPS only (or HTTP on loopback)`,
      );
    }
    origins.add(parsed.origin);
  }
  if (origins.size !== 1) throw new AgentError(403, 'AUTH', 'the ticket points at more than one server: refused');
  if (Date.parse(ticket.expires) <= Date.now()) {
    throw new AgentError(410, 'EXPIRED', `the ticket for ${image} expired at ${ticket.expires}: send a fresh one`);
  }
  return {
    key: `ticket ${ticket.remote} ${ticket.imageId ?? ''} ${image}`,
    image,
    remote: () => openTicket(ticket),
  };
}

/** A pull from a remote this host's own config names (never a URL the caller gives). */
function fromAlias(value: unknown, image: string, options: AgentOptions): PullRequest {
  if (typeof value !== 'string')
    throw new AgentError(400, 'USAGE', "the pull needs a ticket, or a remote named in this host's dogestry.cfg");
  const named = options.remoteNamed(value);
  if (!named) throw new AgentError(403, 'CONFIG', `this host's dogestry.cfg names no remote ${JSON.stringify(value)}`);
  return { key: `remote ${value} ${image}`, image, remote: async () => named.remote, remoteOptions: named.remoteOptions };
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(request, 4 * 1024 * 1024, () => new AgentError(413, 'USAGE', 'the request is larger than 4 MiB'));
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new AgentError(400, 'USAGE', 'the request body is not a JSON object');
}

function json(response: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  response.end(body);
}

function answerError(response: ServerResponse, thrown: unknown): void {
  const error =
    thrown instanceof AgentError
      ? thrown
      : thrown instanceof DogestryError
        ? new AgentError(thrown instanceof InvalidReferenceError ? 400 : 500, thrown.code, thrown.message)
        : new AgentError(500, 'UNEXPECTED', 'internal error');
  if (response.headersSent) {
    response.destroy();
    return;
  }
  json(response, error.status, { error: { code: error.code, message: error.message } });
}
