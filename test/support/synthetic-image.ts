/**
 * Synthetic Docker images for tests and benchmarks: each layer is a tar holding one file of
 * deterministic bytes (AES-CTR keystream for incompressible, repeated text for compressible),
 * so two images built from the same layer specs share those layers byte for byte.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

export interface LayerSpec {
  /** Same seed + size + kind = the same layer. */
  readonly seed: string;
  readonly size: number;
  readonly kind?: 'random' | 'text';
}

export interface SyntheticImage {
  readonly tarPath: string;
  readonly imageId: string;
  readonly diffIds: string[];
  readonly layerPaths: string[];
}

const CHUNK = 1024 * 1024;

function* contentChunks(spec: LayerSpec): Generator<Buffer> {
  const key = createHash('sha256').update(`key:${spec.seed}`).digest();
  const iv = createHash('md5').update(`iv:${spec.seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(CHUNK);
  const line = Buffer.from(`${spec.seed} the quick brown fox jumps over the lazy dog 0123456789\n`);
  const text = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += line.length) line.copy(text, i);
  for (let left = spec.size; left > 0; left -= CHUNK) {
    const n = Math.min(CHUNK, left);
    if (spec.kind === 'text') {
      // Mostly repetitive, with a little keystream so that layers with other seeds differ.
      const chunk = Buffer.from(text.subarray(0, n));
      cipher.update(zeros.subarray(0, 64)).copy(chunk, 0);
      yield chunk;
    } else yield cipher.update(zeros.subarray(0, n));
  }
}

/** Write a layer tar to `path` and return its diffID (sha256 of the tar). */
export async function writeLayerTar(spec: LayerSpec, path: string): Promise<string> {
  return packLayer(spec, createWriteStream(path));
}

/** Generate the layer tar for `spec` into `out` (one file entry), and answer its diffID. */
async function packLayer(spec: LayerSpec, out: NodeJS.WritableStream): Promise<string> {
  const pack = tar.pack();
  const hash = createHash('sha256');
  const done = pipeline(
    pack,
    async function* (source: AsyncIterable<unknown>) {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        yield chunk;
      }
    },
    out,
  );
  const entry = pack.entry({ name: `data/${spec.seed}.bin`, size: spec.size, mode: 0o644, mtime: new Date(0) });
  for (const chunk of contentChunks(spec)) {
    if (!entry.write(chunk)) await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
  }
  (entry as unknown as { end(): void }).end();
  pack.finalize();
  await done;
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Build a `docker load` tarball (legacy layout) for an image named `repoTag` with the given
 * layers, in `workDir`. Layer tars are cached there by spec, so shared layers are built once.
 */
export async function buildImageTar(
  workDir: string,
  repoTag: string,
  layers: readonly LayerSpec[],
  options: { omitBottom?: number; name?: string } = {},
): Promise<SyntheticImage> {
  await mkdir(workDir, { recursive: true });
  const diffIds: string[] = [];
  const layerPaths: string[] = [];
  for (const spec of layers) {
    const path = join(workDir, `layer-${spec.seed.replace(/[^a-zA-Z0-9.-]+/g, '_')}-${spec.size}-${spec.kind ?? 'random'}.tar`);
    diffIds.push(await writeLayerTar(spec, path));
    layerPaths.push(path);
  }
  const config = imageConfig(repoTag, layers, diffIds);
  const imageHex = createHash('sha256').update(config).digest('hex');
  const tarPath = join(workDir, `${(options.name ?? repoTag).replace(/[^a-zA-Z0-9]+/g, '_')}.tar`);
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(tarPath));
  const manifestLayers: string[] = [];
  const written = new Set<string>();
  for (const [i, path] of layerPaths.entries()) {
    const hex = (diffIds[i] as string).slice(7);
    manifestLayers.push(`${hex}/layer.tar`);
    // Left out: layers the engine must already hold as a chain prefix (a partial load).
    if (written.has(hex) || i < (options.omitBottom ?? 0)) continue;
    written.add(hex);
    const size = (await stat(path)).size;
    const entry = pack.entry({ name: `${hex}/layer.tar`, size, mtime: new Date(0) });
    await pipeline(createReadStream(path), entry);
  }
  pack.entry({ name: `${imageHex}.json`, mtime: new Date(0) }, config);
  pack.entry(
    { name: 'manifest.json', mtime: new Date(0) },
    JSON.stringify([{ Config: `${imageHex}.json`, RepoTags: [repoTag], Layers: manifestLayers }]),
  );
  pack.finalize();
  await done;
  return { tarPath, imageId: `sha256:${imageHex}`, diffIds, layerPaths };
}

function imageConfig(repoTag: string, layers: readonly LayerSpec[], diffIds: readonly string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Cmd: ['/bin/true'], Labels: { 'dogestry.test': repoTag } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layers.map((l) => ({ created: '2026-01-01T00:00:00Z', created_by: `synthetic ${l.seed}` })),
    }),
  );
}

/**
 * The same `docker load` tarball as `buildImageTar`, generated as a stream with nothing
 * written to disk (for images too big to want on disk twice): layers first, hashed as they
 * go, then the config and manifest.json, which engines read only after the whole tar.
 */
export function imageTarStream(repoTag: string, layers: readonly LayerSpec[]): { stream: Readable; imageId: Promise<string> } {
  const pack = tar.pack();
  const imageId = (async () => {
    const diffIds: string[] = [];
    for (const spec of layers) {
      // One file entry: header, content padded to 512, then the two end-of-archive blocks.
      const layerSize = 512 + Math.ceil(spec.size / 512) * 512 + 1024;
      const outer = pack.entry({ name: `${spec.seed}/layer.tar`, size: layerSize, mtime: new Date(0) });
      diffIds.push(await packLayer(spec, outer as unknown as NodeJS.WritableStream));
    }
    const config = imageConfig(repoTag, layers, diffIds);
    const hex = createHash('sha256').update(config).digest('hex');
    pack.entry({ name: `${hex}.json`, mtime: new Date(0) }, config);
    const paths = layers.map((l) => `${l.seed}/layer.tar`);
    pack.entry(
      { name: 'manifest.json', mtime: new Date(0) },
      JSON.stringify([{ Config: `${hex}.json`, RepoTags: [repoTag], Layers: paths }]),
    );
    pack.finalize();
    return `sha256:${hex}`;
  })();
  imageId.catch((error: Error) => pack.destroy(error));
  return { stream: Readable.from(pack, { objectMode: false }), imageId };
}
