import type { ClientRequest, Agent as HttpAgent, IncomingMessage, RequestOptions } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeGivingBack } from '../buffer-pool.js';
import { DogestryError, EngineError, EngineUnreachableError, InvalidReferenceError, NotFoundError } from '../errors.js';
import { http, https } from '../node-http.js';
import { drain, readAll } from '../streams.js';
import { type ConnectionOptions, connectionOptions, DEFAULT_DOCKER_HOST } from './connection.js';
import type { DockerEngine, EngineImage, EngineInfo } from './engine.js';
import { SshAgent } from './ssh-agent.js';

interface InspectInfo {
  Id: string;
  RepoTags?: string[] | null;
  Size?: number;
  RootFS?: { Layers?: string[] };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EPIPE']);
/** Error bodies and JSON answers are small; refuse absurd ones. */
const MAX_JSON = 64 * 1024 * 1024;
/** The oldest Engine API spoken: Docker 1.13 (images/load?quiet, the save layout we parse). */
export const MIN_API_VERSION = '1.25';
/** As the docker CLI's dialer: a connection not made in 30 s is not going to be. */
const CONNECT_TIMEOUT_MS = 30_000;
/** An engine silent this long on an open request is stuck (a big load answers only at its end). */
const DEFAULT_IDLE_SECONDS = 600;

/**
 * A Docker Engine API client (Docker, and Podman's compatible service) over `node:http`, on a
 * unix socket, TCP, or TCP with TLS. It speaks only the seven calls push and pull need, and
 * hands save streams over as the socket's own `IncomingMessage`, so a layer flows from the
 * engine's socket to a remote with no copy in between.
 */
export class DockerApiEngine implements DockerEngine {
  private readonly connection: ConnectionOptions;
  private readonly agent: HttpAgent;
  private readonly idleMs: number;
  /** `/v1.xx`, from DOCKER_API_VERSION or negotiated once with `/_ping`. */
  private apiPrefix: Promise<string> | undefined;

  constructor(
    readonly endpoint: string = DEFAULT_DOCKER_HOST,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.connection = connectionOptions(endpoint, env);
    const idle = Number(env.DOGESTRY_ENGINE_TIMEOUT || DEFAULT_IDLE_SECONDS);
    this.idleMs = Number.isFinite(idle) && idle > 0 ? idle * 1000 : DEFAULT_IDLE_SECONDS * 1000;
    const tls = this.connection.protocol === 'https';
    const agentOptions = { keepAlive: true, maxSockets: 8 };
    this.agent = this.connection.ssh
      ? new SshAgent(this.connection.ssh, agentOptions)
      : tls
        ? new https.Agent({
            ...agentOptions,
            ...pick(this.connection, ['ca', 'cert', 'key']),
            rejectUnauthorized: this.connection.verify ?? true,
          })
        : new http.Agent(agentOptions);
  }

  /**
   * The API version every call names, as the docker CLI picks it: DOCKER_API_VERSION when set,
   * else the engine's own (`API-Version` of `/_ping`), refused below MIN_API_VERSION.
   */
  private version(): Promise<string> {
    this.apiPrefix ??= (async () => {
      const pinned = this.env.DOCKER_API_VERSION?.replace(/^v/, '');
      if (pinned) {
        if (!/^\d+\.\d+$/.test(pinned)) throw new InvalidReferenceError(`DOCKER_API_VERSION=${pinned} is not a version like 1.41`);
        return `/v${pinned}`;
      }
      const ping = await this.request('reach', 'GET', '/_ping');
      await drain(ping);
      const header = ping.headers['api-version'];
      const offered = typeof header === 'string' && /^\d+\.\d+$/.test(header.trim()) ? header.trim() : undefined;
      if (!offered) return ''; // an engine that does not say: unversioned paths reach its newest API
      if (compareVersions(offered, MIN_API_VERSION) < 0) {
        throw new EngineError(
          `the engine at ${this.endpoint} speaks Docker API ${offered}; dogestry needs ${MIN_API_VERSION} or newer (Docker 1.13+, Podman 2+): upgrade the engine`,
        );
      }
      return `/v${offered}`;
    })();
    this.apiPrefix.catch(() => {
      this.apiPrefix = undefined; // a failed negotiation is tried again by the next call
    });
    return this.apiPrefix;
  }

  async info(): Promise<EngineInfo> {
    const [version, info] = await Promise.all([
      this.json<{ Version: string; ApiVersion: string; Components?: { Name: string }[] }>('ask the version of', 'GET', '/version'),
      this.json<{ DriverStatus?: [string, string][] | null }>('ask about', 'GET', '/info'),
    ]);
    const podman = (version.Components ?? []).some((c) => /podman/i.test(c.Name));
    // Docker reports the containerd image store as a snapshotter driver type.
    const containerd = (info.DriverStatus ?? []).some(([key, value]) => key === 'driver-type' && /snapshotter/.test(value ?? ''));
    return {
      kind: podman ? 'podman' : 'docker',
      version: version.Version,
      apiVersion: version.ApiVersion,
      endpoint: this.endpoint,
      imageStore: containerd ? 'containerd' : 'graphdriver',
    };
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

  /** One call of the versioned API; a 2xx answer's body stream, else a typed error carrying the engine's message. */
  private async call(what: string, method: string, path: string, body?: Readable): Promise<IncomingMessage> {
    let prefix: string;
    try {
      prefix = await this.version();
    } catch (error) {
      body?.destroy();
      throw error;
    }
    return this.request(what, method, `${prefix}${path}`, body);
  }

  private request(what: string, method: string, path: string, body?: Readable): Promise<IncomingMessage> {
    const { socketPath, host, port, protocol } = this.connection;
    const options: RequestOptions = {
      method,
      path,
      agent: this.agent,
      headers: body ? { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' } : {},
      ...(socketPath ? { socketPath } : { host, port }),
    };
    return new Promise<IncomingMessage>((resolve, reject) => {
      let answered = false;
      const request = (protocol === 'https' ? https.request : http.request)(options, (response) => {
        answered = true;
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
      request.on('error', (error) => {
        // An engine that refused a load mid-body answers, then closes: its answer is the error.
        if (!answered) reject(this.translate(error, what, body !== undefined));
      });
      this.arm(request);
      if (!body) {
        request.end();
        return;
      }
      body.on('error', (error) => request.destroy(error));
      request.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      // Lent buffers (a direct pull's decoded blocks) go back to their pool once written.
      pipeGivingBack(body, request);
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

  /** Connect and idle timeouts: a request fails rather than hang on an engine that went silent. */
  private arm(request: ClientRequest): void {
    request.setTimeout(this.idleMs, () => {
      request.destroy(Object.assign(new Error(`no answer for ${this.idleMs / 1000} s (DOGESTRY_ENGINE_TIMEOUT)`), { code: 'ETIMEDOUT' }));
    });
    request.once('socket', (socket) => {
      if (!(socket as { connecting?: boolean }).connecting) return;
      const timer = setTimeout(() => {
        request.destroy(Object.assign(new Error(`not connected after ${CONNECT_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }));
      }, CONNECT_TIMEOUT_MS).unref();
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
  }

  private translate(error: unknown, what: string, sending = false): Error {
    const err = error as NodeJS.ErrnoException;
    if (sending && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
      // It was reached (the body was flowing): the engine dropped the load, it did not vanish.
      return new EngineError(
        `the engine at ${this.endpoint} closed the connection while it was sent the image (${err.code}): its log says why`,
        {
          cause: error,
        },
      );
    }
    if (err.code === 'ESSH') {
      return new EngineUnreachableError(`cannot reach the Docker engine at ${this.endpoint} over ssh: ${err.message}`, { cause: error });
    }
    if (err.code && NETWORK_CODES.has(err.code)) {
      return new EngineUnreachableError(
        `cannot reach the Docker engine at ${this.endpoint} (${err.code}${err.code === 'ETIMEDOUT' ? `: ${err.message}` : ''}): start it, or point --docker-host / DOCKER_HOST at a running one`,
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

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
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
