/**
 * A fake DockerEngine for fast core tests: saves images from `docker load` tarballs made by
 * test/support/synthetic-image (legacy layout, as Docker <= 24 saves), and loads tars the way
 * an engine does, checking every layer it is given against the config's diff_ids and
 * refusing a load whose stream fails. No dockerd: seconds, not minutes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { type DockerEngine, EngineError, type EngineImage, type EngineInfo } from '@dogestry/core';
import tar from 'tar-stream';
import type { SyntheticImage } from '../../../../test/support/synthetic-image.js';

export class FakeEngine implements DockerEngine {
  readonly endpoint = 'fake://engine';
  private readonly images = new Map<string, { image: EngineImage; tarPath?: string }>();
  /** Image ids loaded, in order. */
  readonly loaded: string[] = [];
  /** Make the next save stream fail after this many bytes (an engine killed mid-save). */
  cutSaveAfter: number | undefined;
  /** Pause this long between the chunks of a save (a slow engine). */
  saveChunkDelayMs = 0;

  /**
   * `containerd`: as Docker's containerd image store: image IDs are not config digests (a load
   * gets the fake manifest digest `sha256(config digest)`), loads must hold every layer, and
   * only names in the load's manifest.json (or a tag by that ID) name the image.
   */
  constructor(readonly imageStore: 'graphdriver' | 'containerd' = 'graphdriver') {}

  /** An image to save: by default the synthetic image's own legacy load tar; `save` overrides the tar and the ID. */
  add(repoTag: string, synthetic: SyntheticImage, save?: { tarPath: string; id: string }): void {
    const id = save?.id ?? synthetic.imageId;
    this.images.set(id, {
      image: { id, diffIds: synthetic.diffIds, repoTags: [repoTag], size: 0 },
      tarPath: save?.tarPath ?? synthetic.tarPath,
    });
  }

  async info(): Promise<EngineInfo> {
    return { kind: 'docker', version: 'fake', apiVersion: '1.41', endpoint: this.endpoint, imageStore: this.imageStore };
  }

  async inspectImage(reference: string): Promise<EngineImage | undefined> {
    for (const { image } of this.images.values()) {
      if (image.id === reference || image.id === `sha256:${reference}` || image.repoTags.includes(reference)) return image;
      if (image.repoTags.includes(`${reference}:latest`)) return image;
    }
    return undefined;
  }

  async listImages(): Promise<EngineImage[]> {
    return [...this.images.values()].map((e) => e.image);
  }

  async save(reference: string): Promise<Readable> {
    const image = await this.inspectImage(reference);
    const tarPath = image && this.images.get(image.id)?.tarPath;
    if (!tarPath) throw new EngineError(`no such image ${reference}`);
    const file = createReadStream(tarPath, { highWaterMark: 64 * 1024 });
    if (this.saveChunkDelayMs > 0) {
      const delay = this.saveChunkDelayMs;
      return Readable.from(
        (async function* () {
          for await (const chunk of file) {
            await new Promise((resolve) => setTimeout(resolve, delay));
            yield chunk as Buffer;
          }
        })(),
      );
    }
    const cut = this.cutSaveAfter;
    if (cut === undefined) return file;
    this.cutSaveAfter = undefined;
    const out = new PassThrough();
    let sent = 0;
    file.on('data', (data: string | Buffer) => {
      const chunk = data as Buffer;
      if (sent + chunk.length >= cut) {
        out.write(chunk.subarray(0, cut - sent));
        file.destroy();
        out.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
        return;
      }
      sent += chunk.length;
      out.write(chunk);
    });
    file.on('end', () => out.end());
    return out;
  }

  async load(stream: Readable): Promise<void> {
    const extract = tar.extract();
    const layers = new Map<string, string>(); // entry name -> sha256
    let config: Buffer | undefined;
    let manifest: { Config: string; Layers: string[]; RepoTags?: string[] | null }[] | undefined;
    const reading = (async () => {
      for await (const entry of extract) {
        const name = entry.header.name;
        if (name.endsWith('/layer.tar')) {
          const hash = createHash('sha256');
          for await (const chunk of entry) hash.update(chunk as Buffer);
          layers.set(name, `sha256:${hash.digest('hex')}`);
        } else {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) chunks.push(chunk as Buffer);
          if (name === 'manifest.json') manifest = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          else if (name.endsWith('.json')) config = Buffer.concat(chunks);
        }
      }
    })();
    await Promise.all([
      new Promise<void>((resolve, reject) => {
        stream.once('error', (error) => {
          extract.destroy(error);
          reject(error);
        });
        stream.pipe(extract as unknown as NodeJS.WritableStream);
        extract.once('finish', () => resolve());
      }),
      reading,
    ]);
    if (!config || !manifest?.[0]) throw new EngineError('load: no manifest or config');
    const diffIds = (JSON.parse(config.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    let id = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    if (this.imageStore === 'containerd') id = `sha256:${createHash('sha256').update(id).digest('hex')}`;
    // The containerd store takes no layer from what it already has: the tar must hold them all.
    const known = new Set(this.imageStore === 'containerd' ? [] : [...this.images.values()].flatMap((e) => e.image.diffIds));
    for (const [i, path] of manifest[0].Layers.entries()) {
      const got = layers.get(path);
      if (got === undefined ? !known.has(diffIds[i] as string) : got !== diffIds[i]) {
        throw new EngineError(`load: layer ${i} (${path}) does not match the config's diff_ids`);
      }
    }
    this.images.set(id, { image: { id, diffIds, repoTags: manifest[0].RepoTags ?? [], size: 0 } });
    this.loaded.push(id);
  }

  async tag(imageId: string, name: string, tag: string): Promise<void> {
    const entry = this.images.get(imageId);
    if (!entry) throw new EngineError(`no such image ${imageId}`);
    entry.image = { ...entry.image, repoTags: [...entry.image.repoTags, `${name}:${tag}`] } as EngineImage;
  }

  async remove(reference: string): Promise<void> {
    const image = await this.inspectImage(reference);
    if (image) this.images.delete(image.id);
  }
}

/** Concatenate a readable into a buffer (test helper). */
export async function bytesOf(stream: Readable | undefined): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const textBody = (text: string): Readable => Readable.from([Buffer.from(text)]);
