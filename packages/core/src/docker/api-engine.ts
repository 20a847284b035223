import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { DogestryError, EngineError, EngineUnreachableError, NotFoundError } from '../errors.js';
import { drain, readAll } from '../streams.js';
import { type ConnectionOptions, connectionOptions, DEFAULT_DOCKER_HOST } from './connection.js';
import type { DockerEngine, EngineImage, EngineInfo } from './engine.js';

interface InspectInfo {
  Id: string;
  RepoTags?: string[] | null;
  Size?: number;
  RootFS?: { Layers?: string[] };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EPIPE']);
/** Error bodies and JSON answers are small; refuse absurd ones. */
const MAX_JSON = 64 * 1024 * 1024;

/**
 * A Docker Engine API client (Docker, and Podman's compatible service) over `node:http`, on a
 * unix socket, TCP, or TCP with TLS. It speaks only the seven calls push and pull need, and
 * hands save streams over as the socket's own `IncomingMessage`, so a layer flows from the
 * engine's socket to a remote with no copy in between.
 */
export class DockerApiEngine implements DockerEngine {
  private readonly connection: ConnectionOptions;
  private readonly agent: HttpAgent;

  constructor(
    readonly endpoint: string = DEFAULT_DOCKER_HOST,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.connection = connectionOptions(endpoint, env);
    const tls = this.connection.protocol === 'https';
    const agentOptions = { keepAlive: true, maxSockets: 8 };
    this.agent = tls
      ? new HttpsAgent({
          ...agentOptions,
          ...pick(this.connection, ['ca', 'cert', 'key']),
          rejectUnauthorized: this.connection.verify ?? true,
        })
      : new HttpAgent(agentOptions);
  }

  async info(): Promise<EngineInfo> {
    const version = await this.json<{ Version: string; ApiVersion: string; Components?: { Name: string }[] }>(
      'ask the version of',
      'GET',
      '/version',
    );
    const podman = (version.Components ?? []).some((c) => /podman/i.test(c.Name));
    return { kind: podman ? 'podman' : 'docker', version: version.Version, apiVersion: version.ApiVersion, endpoint: this.endpoint };
  }

  async inspectImage(reference: string): Promise<EngineImage | undefined> {
    try {
      return toEngineImage(await this.json<InspectInfo>(`inspect ${reference} on`, 'GET', `/images/${pathName(reference)}/json`));
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async listImages(): Promise<EngineImage[]> {
    const summaries = await this.json<{ Id: string }[]>('list images on', 'GET', '/images/json');
    const images = await Promise.all(summaries.map((s) => this.inspectImage(s.Id)));
    return images.filter((i): i is EngineImage => i !== undefined);
  }

  async save(reference: string): Promise<Readable> {
    return this.call(`save ${reference} from`, 'GET', `/images/${pathName(reference)}/get`);
  }

  async load(tar: Readable): Promise<void> {
    let response: IncomingMessage;
    try {
      response = await this.call('load into', 'POST', '/images/load?quiet=1', tar);
    } catch (error) {
      // An engine that fails early (an error status, a dropped connection) leaves the rest of
      // the tar unread: destroy it, so its layer readers and cache file handles close.
      tar.destroy();
      throw error;
    }
    // The engine answers 200 and reports failures inside the JSON stream: read it all.
    const text = (await readAll(response, MAX_JSON)).toString('utf8');
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim()) continue;
      let message: { error?: string; errorDetail?: { message?: string } };
      try {
        message = JSON.parse(line);
      } catch {
        continue;
      }
      const error = message.errorDetail?.message ?? message.error;
      if (error) throw new EngineError(`the engine at ${this.endpoint} refused the load: ${error}`);
    }
  }

  async tag(imageId: string, name: string, tag: string): Promise<void> {
    const query = new URLSearchParams({ repo: name, tag });
    await drain(await this.call(`tag ${name}:${tag} on`, 'POST', `/images/${pathName(imageId)}/tag?${query}`));
  }

  async remove(reference: string): Promise<void> {
    await drain(await this.call(`remove ${reference} from`, 'DELETE', `/images/${pathName(reference)}`));
  }

  private async json<T>(what: string, method: string, path: string): Promise<T> {
    const response = await this.call(what, method, path);
    const text = (await readAll(response, MAX_JSON)).toString('utf8');
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new EngineError(`the engine at ${this.endpoint} answered ${method} ${path} with something that is not JSON`, { cause });
    }
  }

  /** One request; a 2xx answer's body stream, else a typed error carrying the engine's message. */
  private call(what: string, method: string, path: string, body?: Readable): Promise<IncomingMessage> {
    const { socketPath, host, port, protocol } = this.connection;
    const options: RequestOptions = {
      method,
      path,
      agent: this.agent,
      headers: body ? { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' } : {},
      ...(socketPath ? { socketPath } : { host, port }),
    };
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = (protocol === 'https' ? httpsRequest : httpRequest)(options, (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(response);
          return;
        }
        readAll(response, MAX_JSON).then(
          (bytes) => reject(this.statusError(what, status, bytes.toString('utf8'))),
          (error: Error) => reject(this.translate(error, what)),
        );
      });
      request.on('error', (error) => reject(this.translate(error, what)));
      if (!body) {
        request.end();
        return;
      }
      body.on('error', (error) => request.destroy(error));
      request.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(request);
    });
  }

  private statusError(what: string, status: number, text: string): Error {
    let detail = text.trim();
    try {
      detail = (JSON.parse(text) as { message?: string }).message ?? detail;
    } catch {
      // not JSON: keep the text
    }
    if (status === 404) return new NotFoundError(`${detail} (engine ${this.endpoint})`);
    return new EngineError(`could not ${what} the engine at ${this.endpoint}: ${detail || `HTTP ${status}`}`);
  }

  private translate(error: unknown, what: string): Error {
    const err = error as NodeJS.ErrnoException;
    if (err.code && NETWORK_CODES.has(err.code)) {
      return new EngineUnreachableError(
        `cannot reach the Docker engine at ${this.endpoint} (${err.code}): start it, or point --docker-host / DOCKER_HOST at a running one`,
        { cause: error },
      );
    }
    if (error instanceof DogestryError) return error; // ours: the load body's own failure (a layer that failed its check)
    return new EngineError(`could not ${what} the engine at ${this.endpoint}: ${err.message ?? String(error)}`, { cause: error });
  }
}

/** An image reference in a URL path: `/` and `:` stay (the engine's router takes them), the rest is escaped. */
function pathName(reference: string): string {
  return encodeURIComponent(reference).replace(/%2F/gi, '/').replace(/%3A/gi, ':');
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

function toEngineImage(info: InspectInfo): EngineImage {
  return {
    id: info.Id.startsWith('sha256:') ? info.Id : `sha256:${info.Id}`,
    diffIds: info.RootFS?.Layers ?? [],
    repoTags: (info.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    size: info.Size ?? 0,
  };
}
