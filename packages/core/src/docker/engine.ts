import type { Readable } from 'node:stream';

/** One image as an engine knows it. */
export interface EngineImage {
  /** `sha256:<hex>`: the digest of the image config. */
  readonly id: string;
  /** Layer diffIDs, bottom first. */
  readonly diffIds: readonly string[];
  readonly repoTags: readonly string[];
  readonly size: number;
}

export interface EngineInfo {
  readonly kind: 'docker' | 'podman';
  readonly version: string;
  readonly apiVersion: string;
  /**
   * Where images live: Docker's graph drivers (image ID = config digest, partial loads by
   * chain), or the containerd image store (Docker 25+ opt-in, 29+ default): image ID = the
   * manifest's or index's digest, and loads are taken whole.
   */
  readonly imageStore: 'graphdriver' | 'containerd';
  /** Where it was reached, for messages. */
  readonly endpoint: string;
}

/**
 * The narrow view of a Docker-API engine that push and pull need. `DockerApiEngine` is the
 * real one; tests may wrap it to observe what is sent.
 */
export interface DockerEngine {
  readonly endpoint: string;
  info(): Promise<EngineInfo>;
  /** `undefined` when the engine has no such image. */
  inspectImage(reference: string): Promise<EngineImage | undefined>;
  /** Every image with its layers (for finding the longest shared chain). */
  listImages(): Promise<EngineImage[]>;
  /** `docker save` of one image as a tar stream. */
  save(reference: string): Promise<Readable>;
  /** `docker load` of a tar stream; rejects if the engine reports an error in its answer. */
  load(tar: Readable): Promise<void>;
  tag(imageId: string, name: string, tag: string): Promise<void>;
  remove(reference: string): Promise<void>;
}
