import { Readable } from 'node:stream';
import { TAR_END, tarHeader, tarPadding } from './tar-writer.js';

/** A layer's uncompressed bytes by position, possibly still arriving. */
export interface BlobReader {
  /**
   * Some bytes at `position` (at most `length`, at least one), waiting while they have not
   * arrived. Rejects when the blob cannot be had whole and verified.
   */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface LoadTarLayer {
  readonly diffHex: string;
  /** Bytes of the uncompressed layer tar. */
  readonly size: number;
  /** Its bytes; absent for layers the engine already has (chain prefix). */
  readonly open?: () => BlobReader;
}

const CHUNK = 1024 * 1024;

/**
 * A `docker load` tarball in the legacy layout every engine reads: `<config>.json`,
 * `<diffid>/layer.tar` for each layer given bytes, and `manifest.json`. Layers the engine
 * already has as a chain prefix are listed in manifest.json but left out of the tar; Docker
 * loads that, matching by chain.
 *
 * Layers stream while they download. What keeps an unverified layer from ever being loaded:
 * a reader yields a layer's last byte only once the layer is verified, so no layer entry is
 * complete before that; manifest.json, without which an engine loads nothing, comes last; and
 * a failure destroys the stream, so the engine sees a cut request body and discards the
 * whole load (Docker and Podman both read the entire tar before they apply any layer).
 *
 * `repoTags` names the image in manifest.json, so the engine tags it as it loads (for the
 * containerd image store, which finds images by their manifest digest, not the config's).
 */
export function buildLoadTar(
  configHex: string,
  config: Buffer,
  layers: readonly LoadTarLayer[],
  repoTags: readonly string[] = [],
): Readable {
  return Readable.from(entries(configHex, config, layers, repoTags), { objectMode: false, highWaterMark: 2 * CHUNK });
}

async function* entries(
  configHex: string,
  config: Buffer,
  layers: readonly LoadTarLayer[],
  repoTags: readonly string[],
): AsyncGenerator<Buffer> {
  yield* file(`${configHex}.json`, config);
  const sent = new Set<string>();
  for (const layer of layers) {
    if (!layer.open || sent.has(layer.diffHex)) continue;
    sent.add(layer.diffHex);
    yield tarHeader(`${layer.diffHex}/`, 0, 'directory');
    yield tarHeader(`${layer.diffHex}/layer.tar`, layer.size);
    const reader = layer.open();
    try {
      for (let position = 0; position < layer.size; ) {
        const chunk = await reader.read(position, Math.min(CHUNK, layer.size - position));
        position += chunk.length;
        yield chunk;
      }
    } finally {
      await reader.close();
    }
    yield tarPadding(layer.size);
  }
  const manifest = [
    { Config: `${configHex}.json`, RepoTags: repoTags.length > 0 ? repoTags : null, Layers: layers.map((l) => `${l.diffHex}/layer.tar`) },
  ];
  yield* file('manifest.json', Buffer.from(JSON.stringify(manifest)));
  yield TAR_END;
}

function* file(name: string, bytes: Buffer): Generator<Buffer> {
  yield tarHeader(name, bytes.length);
  yield bytes;
  yield tarPadding(bytes.length);
}
