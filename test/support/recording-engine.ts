import { PassThrough, type Readable } from 'node:stream';
import type { DockerEngine, EngineImage, EngineInfo } from '@dogestry/core';
import tar from 'tar-stream';

/** Wraps a real engine and records the entries of every tar sent to `load`. */
export class RecordingEngine implements DockerEngine {
  readonly loads: string[][] = [];
  constructor(private readonly inner: DockerEngine) {}
  get endpoint(): string {
    return this.inner.endpoint;
  }
  info(): Promise<EngineInfo> {
    return this.inner.info();
  }
  inspectImage(reference: string): Promise<EngineImage | undefined> {
    return this.inner.inspectImage(reference);
  }
  listImages(): Promise<EngineImage[]> {
    return this.inner.listImages();
  }
  save(reference: string): Promise<Readable> {
    return this.inner.save(reference);
  }
  async load(stream: Readable): Promise<void> {
    const names: string[] = [];
    this.loads.push(names);
    const copy = new PassThrough();
    const toEngine = new PassThrough();
    stream.on('data', (chunk) => {
      copy.write(chunk);
      toEngine.write(chunk);
    });
    stream.on('end', () => {
      copy.end();
      toEngine.end();
    });
    const extract = tar.extract();
    const listing = (async () => {
      for await (const entry of extract) {
        names.push(entry.header.name);
        entry.resume();
      }
    })();
    copy.pipe(extract as unknown as NodeJS.WritableStream);
    await Promise.all([this.inner.load(toEngine), listing]);
  }
  tag(imageId: string, name: string, tag: string): Promise<void> {
    return this.inner.tag(imageId, name, tag);
  }
  remove(reference: string): Promise<void> {
    return this.inner.remove(reference);
  }
}
