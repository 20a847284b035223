import { DockerApiEngine } from './docker/api-engine.js';
import { connectionOptions, resolveDockerHost } from './docker/connection.js';
import type { DockerEngine } from './docker/engine.js';

/** Where to find the engine: an engine object, or a Docker host string (else DOCKER_HOST, else the local socket). */
export interface EngineSelection {
  readonly engine?: DockerEngine;
  readonly dockerHost?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function selectEngine(selection: EngineSelection): DockerEngine {
  if (selection.engine) return selection.engine;
  const env = selection.env ?? process.env;
  const host = resolveDockerHost(selection.dockerHost, env, undefined);
  connectionOptions(host, env); // validate early: a bad host is an input error, not a connection error
  return new DockerApiEngine(host, env);
}
