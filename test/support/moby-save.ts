/**
 * `docker save` tarballs as Docker >= 25 writes them, made from a synthetic image (Bookworm has
 * only Docker 20.10, so these are fixtures built by reading moby's save code, not captured):
 *
 * - `graphdriver` (moby image/tarexport, v25+): an OCI image layout written to a directory and
 *   tarred in lexical order: `blobs/sha256/<hex>` for every layer (uncompressed, named by
 *   diffID), the config and an OCI manifest; then `index.json` (the manifest, annotated with the
 *   image name), `manifest.json` (docker-load's, pointing into blobs/), `oci-layout` and
 *   `repositories`. The image ID is still the config digest.
 * - `containerd` (the containerd image store, containerd's archive exporter): the same layout
 *   but the layers are the gzip blobs the content store holds, named by their compressed
 *   digest, and the image is an index (one platform) over the manifest; the engine's image ID
 *   is that index's digest, not the config's.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { SyntheticImage } from './synthetic-image.js';

export type ImageStore = 'graphdriver' | 'containerd';

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** The config exactly as the synthetic image's load tar holds it. */
async function configOf(image: SyntheticImage): Promise<Buffer> {
  const extract = tar.extract();
  const wanted = `${image.imageId.slice('sha256:'.length)}.json`;
  let config: Buffer | undefined;
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.name === wanted) config = Buffer.concat(chunks);
    }
  })();
  await Promise.all([pipeline(createReadStream(image.tarPath), extract as unknown as NodeJS.WritableStream), reading]);
  if (!config) throw new Error(`no ${wanted} in ${image.tarPath}`);
  return config;
}

/** Write the save to `out`; answers the image ID the engine would report for it. */
export async function writeMobySave(image: SyntheticImage, repoTag: string, store: ImageStore, out: string): Promise<string> {
  const config = await configOf(image);
  const blobs = new Map<string, Buffer>();
  const add = (bytes: Buffer): string => {
    const hex = sha(bytes);
    blobs.set(hex, bytes);
    return hex;
  };
  const configHex = add(config);
  const layers: { hex: string; size: number; mediaType: string }[] = [];
  for (const path of image.layerPaths) {
    const raw = await readFile(path);
    const stored = store === 'containerd' ? gzipSync(raw, { level: 1 }) : raw;
    const mediaType = store === 'containerd' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
    layers.push({ hex: add(stored), size: stored.length, mediaType });
  }
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: `sha256:${l.hex}`, size: l.size })),
  });
  const manifestHex = add(manifest);
  const manifestDescriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${manifestHex}`,
    size: manifest.length,
  };
  let top = manifestDescriptor;
  let imageId = `sha256:${configHex}`;
  if (store === 'containerd') {
    const index = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...manifestDescriptor, platform: { architecture: 'amd64', os: 'linux' } }],
    });
    const indexHex = add(index);
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${indexHex}`, size: index.length };
    imageId = `sha256:${indexHex}`;
  }
  const [name, tag] = repoTag.split(':') as [string, string];
  const indexJson = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { ...top, annotations: { 'io.containerd.image.name': `docker.io/library/${name}:${tag}`, 'org.opencontainers.image.ref.name': tag } },
    ],
  });
  const dockerManifest = json([
    { Config: `blobs/sha256/${configHex}`, RepoTags: [repoTag], Layers: layers.map((l) => `blobs/sha256/${l.hex}`) },
  ]);
  const files: [string, Buffer][] = [
    ...[...blobs.keys()].sort().map((hex): [string, Buffer] => [`blobs/sha256/${hex}`, blobs.get(hex) as Buffer]),
    ['index.json', indexJson],
    ['manifest.json', dockerManifest],
    ['oci-layout', json({ imageLayoutVersion: '1.0.0' })],
  ];
  if (store === 'graphdriver') files.push(['repositories', json({ [name]: { [tag]: configHex } })]);
  const pack = tar.pack();
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(out));
  pack.entry({ name: 'blobs/', type: 'directory' });
  pack.entry({ name: 'blobs/sha256/', type: 'directory' });
  for (const [path, bytes] of files) pack.entry({ name: path }, bytes);
  pack.finalize();
  await writing;
  return imageId;
}
