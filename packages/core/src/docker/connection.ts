import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidReferenceError } from '../errors.js';

/** How to reach an engine, derived from a Docker host string and the TLS environment. */
export interface ConnectionOptions {
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/**
 * Which engine to talk to: the explicit `--docker-host`, then `DOCKER_HOST`, then
 * `[docker] connection` from dogestry.cfg, then the local socket.
 */
export function resolveDockerHost(
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  configured: string | undefined,
): string {
  return explicit || env.DOCKER_HOST || configured || DEFAULT_DOCKER_HOST;
}

/** Parse `unix:///path`, `/path`, `tcp://host:port` (TLS when DOCKER_TLS_VERIFY or DOCKER_CERT_PATH is set). */
export function connectionOptions(dockerHost: string, env: Readonly<Record<string, string | undefined>>): ConnectionOptions {
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new InvalidReferenceError(`invalid Docker host ${JSON.stringify(dockerHost)}: use unix:///path/docker.sock or tcp://host:2376`);
  }
  if (url.protocol === 'unix:') return { socketPath: decodeURIComponent(url.pathname) };
  if (url.protocol === 'tcp:' || url.protocol === 'http:' || url.protocol === 'https:') {
    const tls = url.protocol === 'https:' || Boolean(env.DOCKER_TLS_VERIFY) || Boolean(env.DOCKER_CERT_PATH);
    const port = Number(url.port || (tls ? 2376 : 2375));
    if (!tls) return { host: url.hostname, port, protocol: 'http' };
    const certDir = env.DOCKER_CERT_PATH || join(env.HOME ?? '', '.docker');
    const read = (name: string): Buffer => {
      try {
        return readFileSync(join(certDir, name));
      } catch (cause) {
        throw new InvalidReferenceError(
          `TLS to ${dockerHost} needs ${join(certDir, name)}: set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem`,
          { cause },
        );
      }
    };
    return { host: url.hostname, port, protocol: 'https', ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
  }
  throw new InvalidReferenceError(`unsupported Docker host ${JSON.stringify(dockerHost)}: use unix:// or tcp://`);
}
