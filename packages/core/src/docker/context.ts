import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A docker CLI context's engine: its host, and the TLS environment it implies. */
export interface DockerContext {
  readonly name: string;
  readonly host: string;
  /** DOCKER_TLS / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as the context sets them (they replace the shell's). */
  readonly tlsEnv: Env;
}

/** The docker CLI's config directory: DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: Env): string {
  return env.DOCKER_CONFIG || join(env.HOME ?? '', '.docker');
}

/**
 * The context the docker CLI would use when no host is given: `DOCKER_CONTEXT`, else
 * `currentContext` in `config.json`. `undefined` for none or `default` (the default context
 * is DOCKER_HOST or the local socket). Contexts live where `docker context create` writes
 * them: `contexts/meta/<sha256 of the name>/meta.json`, TLS files under
 * `contexts/tls/<sha256 of the name>/docker/`.
 */
export function dockerContext(env: Env, name = contextName(env)): DockerContext | undefined {
  if (!name || name === 'default') return undefined;
  const dir = dockerConfigDir(env);
  const id = createHash('sha256').update(name).digest('hex');
  const metaPath = join(dir, 'contexts', 'meta', id, 'meta.json');
  let meta: { Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } } };
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  } catch (cause) {
    const from = env.DOCKER_CONTEXT ? 'DOCKER_CONTEXT' : `currentContext in ${join(dir, 'config.json')}`;
    throw new ConfigError(
      `docker context ${JSON.stringify(name)} (from ${from}) cannot be read at ${metaPath}: check \`docker context ls\`, or set DOCKER_HOST or --docker-host`,
      { cause },
    );
  }
  const endpoint = meta.Endpoints?.docker;
  if (!endpoint?.Host) throw new ConfigError(`docker context ${JSON.stringify(name)} names no docker endpoint (${metaPath})`);
  const tlsDir = join(dir, 'contexts', 'tls', id, 'docker');
  const tls = existsSync(tlsDir);
  return {
    name,
    host: endpoint.Host,
    tlsEnv: {
      DOCKER_CERT_PATH: tlsDir,
      DOCKER_TLS: tls ? '1' : '',
      // Verification fails closed: a context that checks its server needs its ca.pem.
      DOCKER_TLS_VERIFY: tls && !endpoint.SkipTLSVerify ? '1' : '',
    },
  };
}

function contextName(env: Env): string | undefined {
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  const path = join(dockerConfigDir(env), 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // no config: the default context
  }
  try {
    return (JSON.parse(text) as { currentContext?: string }).currentContext;
  } catch (cause) {
    throw new ConfigError(`${path} is not JSON: fix it, or set DOCKER_CONFIG to another directory`, { cause });
  }
}
