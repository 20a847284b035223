/**
 * Where a dogestry server listens, and on what terms: `HOST:PORT` (IPv6 in brackets), plain
 * HTTP or TLS, and the rule every server here keeps: beyond loopback, nothing without
 * authentication unless anonymous access was asked for by name, and no password over plain
 * HTTP beyond loopback.
 */
import { readFileSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { isIP } from 'node:net';
import { ConfigError, UsageError } from '@dogestry/core';
import { http, https } from '@dogestry/core/internal';

export interface ListenOptions {
  /** `HOST:PORT`, `[::1]:PORT`, or `:PORT` (127.0.0.1). */
  readonly listen: string;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

export function parseListen(listen: string): Address {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new UsageError(`--listen ${JSON.stringify(listen)}: use HOST:PORT, for example 127.0.0.1:5000 or [::1]:5000`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** Loopback: 127.0.0.0/8, ::1, localhost. Only a loopback listener may serve without authentication by default. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Stop listening and drop every open connection (streams in flight included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Start listening; answers the server and the URL clients use. */
export async function listen(options: ListenOptions, handler: RequestListener): Promise<{ server: Server; url: string; address: Address }> {
  const address = parseListen(options.listen);
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new ConfigError(`cannot read the TLS ${what} ${path}`, { cause });
    }
  };
  const tls =
    options.tlsCert && options.tlsKey ? { cert: read(options.tlsCert, 'certificate'), key: read(options.tlsKey, 'key') } : undefined;
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  // Slow or idle clients do not hold sockets forever; big layers stream for as long as they flow.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          error.code === 'EADDRINUSE'
            ? `${options.listen} is in use: pick another --listen port`
            : `cannot listen on ${options.listen}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(address.port, address.host, resolve);
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return { server, url: `${tls ? 'https' : 'http'}://${host}:${port}`, address: { host: address.host, port } };
}
