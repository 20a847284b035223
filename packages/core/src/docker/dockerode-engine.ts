import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { EngineError, EngineUnreachableError, NotFoundError } from '../errors.js';
import { connectionOptions, DEFAULT_DOCKER_HOST } from './connection.js';
import type { DockerEngine, EngineImage, EngineInfo } from './engine.js';

interface InspectInfo {
  Id: string;
  RepoTags?: string[] | null;
  Size?: number;
  RootFS?: { Layers?: string[] };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'ENOTFOUND']);

/** The real engine, over dockerode (Docker Engine API, also spoken by Podman's service). */
export class DockerodeEngine implements DockerEngine {
  private readonly docker: Docker;

  constructor(
    readonly endpoint: string = DEFAULT_DOCKER_HOST,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.docker = new Docker({ ...connectionOptions(endpoint, env) } as Docker.DockerOptions);
  }

  async info(): Promise<EngineInfo> {
    const version = (await this.call('ask the version of', () => this.docker.version())) as {
      Version: string;
      ApiVersion: string;
      Components?: { Name: string }[];
    };
    const podman = (version.Components ?? []).some((c) => /podman/i.test(c.Name));
    return { kind: podman ? 'podman' : 'docker', version: version.Version, apiVersion: version.ApiVersion, endpoint: this.endpoint };
  }

  async inspectImage(reference: string): Promise<EngineImage | undefined> {
    try {
      const info = (await this.docker.getImage(reference).inspect()) as InspectInfo;
      return toEngineImage(info);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.translate(error, `inspect ${reference}`);
    }
  }

  async listImages(): Promise<EngineImage[]> {
    const summaries = await this.call('list images on', () => this.docker.listImages());
    const images = await Promise.all(summaries.map((s) => this.inspectImage(s.Id)));
    return images.filter((i): i is EngineImage => i !== undefined);
  }

  async save(reference: string): Promise<Readable> {
    return (await this.call(`save ${reference} from`, () => this.docker.getImage(reference).get())) as Readable;
  }

  async load(tar: Readable): Promise<void> {
    const response = (await this.call('load into', () => this.docker.loadImage(tar, { quiet: true }))) as Readable;
    // The engine answers 200 and reports failures inside the JSON stream: read it all.
    let text = '';
    for await (const chunk of response) text += chunk.toString();
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
    await this.call(`tag ${name}:${tag} on`, () => this.docker.getImage(imageId).tag({ repo: name, tag }));
  }

  async remove(reference: string): Promise<void> {
    await this.call(`remove ${reference} from`, () => this.docker.getImage(reference).remove());
  }

  private async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw this.translate(error, what);
    }
  }

  private translate(error: unknown, what: string): Error {
    const err = error as { code?: string; statusCode?: number; json?: { message?: string }; message?: string };
    if (err.code && NETWORK_CODES.has(err.code)) {
      return new EngineUnreachableError(
        `cannot reach the Docker engine at ${this.endpoint} (${err.code}): start it, or point --docker-host / DOCKER_HOST at a running one`,
        { cause: error },
      );
    }
    const detail = err.json?.message ?? err.message ?? String(error);
    if (err.statusCode === 404) return new NotFoundError(`${detail} (engine ${this.endpoint})`, { cause: error });
    return new EngineError(`could not ${what} the engine at ${this.endpoint}: ${detail}`, { cause: error });
  }
}

function toEngineImage(info: InspectInfo): EngineImage {
  return {
    id: info.Id.startsWith('sha256:') ? info.Id : `sha256:${info.Id}`,
    diffIds: info.RootFS?.Layers ?? [],
    repoTags: (info.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    size: info.Size ?? 0,
  };
}
