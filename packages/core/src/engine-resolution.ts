import { DockerApiEngine } from './docker/api-engine.js';
import { connectionOptions, DEFAULT_DOCKER_HOST, resolveDockerHost } from './docker/connection.js';
import { dockerContext } from './docker/context.js';
import type { DockerEngine } from './docker/engine.js';

/** Where to find the engine: an engine object, or a Docker host string (else DOCKER_HOST, else the docker CLI's context, else the local socket). */
export interface EngineSelection {
  readonly engine?: DockerEngine;
  readonly dockerHost?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The engine the docker CLI would talk to: `dockerHost`, then `DOCKER_HOST`, then the context
 * named by `DOCKER_CONTEXT` or config.json's `currentContext` (its host and TLS files), then
 * the local socket.
 */
export function selectEngine(selection: EngineSelection): DockerEngine {
  if (selection.engine) return selection.engine;
  const env = selection.env ?? process.env;
  const host = resolveDockerHost(selection.dockerHost, env, undefined);
  const context = host ? undefined : dockerContext(env);
  const target = host ?? context?.host ?? DEFAULT_DOCKER_HOST;
  const targetEnv = context ? { ...env, ...context.tlsEnv } : env;
  connectionOptions(target, targetEnv); // validate early: a bad host is an input error, not a connection error
  return new DockerApiEngine(target, targetEnv);
}
