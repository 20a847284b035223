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
  /** With TLS: check the engine's certificate (DOCKER_TLS_VERIFY). */
  readonly verify?: boolean;
  /** `ssh://`: the command that opens one connection (`ssh … docker system dial-stdio`). */
  readonly ssh?: readonly string[];
}

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/**
 * The engine named before any docker context is read: the explicit `--docker-host`, then
 * `DOCKER_HOST`, then (unless `DOCKER_CONTEXT` is set, which comes first) `[docker]
 * connection` from dogestry.cfg. `undefined` leaves the choice to the docker CLI's current
 * context, then the local socket (see `selectEngine`).
 */
export function resolveDockerHost(
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  configured: string | undefined,
): string | undefined {
  return explicit || env.DOCKER_HOST || (env.DOCKER_CONTEXT ? undefined : configured) || undefined;
}

/**
 * Parse a Docker host as the docker CLI does: `unix:///abs.sock` or `unix://relative.sock`,
 * `/path`, `tcp://host:port`, `tcp://[::1]:port`, `https://host:port`, `ssh://[user@]host[:port]`.
 *
 * `ssh://` runs `ssh [-l user] [-p port] -- host docker system dial-stdio` per connection, as
 * the docker CLI does: the engine is reached through the remote host's own docker CLI, with
 * the user's ssh keys, agent and ~/.ssh/config. `DOGESTRY_SSH_COMMAND` replaces `ssh` (split on
 * spaces, like GIT_SSH_COMMAND: `ssh -F /path/config -i /path/key`).
 *
 * TLS, as the docker CLI: on when the host is `https://` or `DOCKER_TLS` or
 * `DOCKER_TLS_VERIFY` is set (non-empty); the engine's certificate is checked against
 * `ca.pem` only with `DOCKER_TLS_VERIFY`; `DOCKER_CERT_PATH` (default ~/.docker) only says
 * where `ca.pem`, `cert.pem` and `key.pem` are. Without verification a client certificate
 * is still sent when there is one.
 */
export function connectionOptions(dockerHost: string, env: Readonly<Record<string, string | undefined>>): ConnectionOptions {
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  // unix://relative.sock has no URL path: take what follows the scheme as it is.
  if (dockerHost.startsWith('unix://')) {
    const path = decodeURIComponent(dockerHost.slice('unix://'.length));
    if (!path) throw new InvalidReferenceError(`invalid Docker host ${JSON.stringify(dockerHost)}: unix:// needs a socket path`);
    return { socketPath: path };
  }
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new InvalidReferenceError(`invalid Docker host ${JSON.stringify(dockerHost)}: use unix:///path/docker.sock or tcp://host:2376`);
  }
  if (url.protocol === 'ssh:') return { ssh: sshCommand(url, dockerHost, env) };
  if (url.protocol === 'tcp:' || url.protocol === 'http:' || url.protocol === 'https:') {
    // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const verify = Boolean(env.DOCKER_TLS_VERIFY);
    const tls = url.protocol === 'https:' || verify || Boolean(env.DOCKER_TLS);
    const port = Number(url.port || (tls ? 2376 : 2375));
    if (!tls) return { host, port, protocol: 'http' };
    const certDir = env.DOCKER_CERT_PATH || join(env.HOME ?? '', '.docker');
    const read = (name: string, required: boolean): Buffer | undefined => {
      try {
        return readFileSync(join(certDir, name));
      } catch (cause) {
        if (!required) return undefined;
        throw new InvalidReferenceError(
          `TLS to ${dockerHost} needs ${join(certDir, name)}: set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem`,
          { cause },
        );
      }
    };
    const ca = verify ? read('ca.pem', true) : undefined;
    const cert = read('cert.pem', verify);
    const key = read('key.pem', verify);
    return { host, port, protocol: 'https', verify, ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
  }
  throw new InvalidReferenceError(`unsupported Docker host ${JSON.stringify(dockerHost)}: use unix://, tcp:// or ssh://`);
}

function sshCommand(url: URL, dockerHost: string, env: Readonly<Record<string, string | undefined>>): string[] {
  const invalid = (why: string) => new InvalidReferenceError(`invalid Docker host ${JSON.stringify(dockerHost)}: ${why}`);
  if (!url.hostname) throw invalid('ssh:// needs a host');
  if (url.pathname && url.pathname !== '/') throw invalid('ssh:// takes no path (use ssh://user@host:port)');
  if (url.password) throw invalid('a password in an ssh:// host is not supported: use a key or ssh-agent');
  const command = (env.DOGESTRY_SSH_COMMAND || 'ssh').split(/\s+/).filter(Boolean);
  const user = url.username ? ['-l', decodeURIComponent(url.username)] : [];
  const port = url.port ? ['-p', url.port] : [];
  return [
    ...command,
    '-o',
    'ConnectTimeout=30',
    '-T',
    ...user,
    ...port,
    '--',
    url.hostname.replace(/^\[(.*)\]$/, '$1'),
    'docker',
    'system',
    'dial-stdio',
  ];
}
