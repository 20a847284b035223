import { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface LoadTarLayer {
  readonly diffHex: string;
  /** Bytes of the uncompressed layer tar; absent for layers the engine already has (chain prefix). */
  readonly open?: () => Readable;
  /** Resolves when `open` may be called (the layer is downloaded and verified); rejects to abort the tar. */
  readonly ready?: Promise<unknown> | undefined;
  readonly size: number;
}

/**
 * A `docker load` tarball in the legacy layout every engine reads: `<config>.json`,
 * `manifest.json`, and `<diffid>/layer.tar` for each layer given bytes. Layers the engine
 * already has as a chain prefix are listed in manifest.json but left out of the tar; Docker
 * loads that, matching by chain. The tar is produced as a stream, one layer at a time, each
 * as soon as it is ready: engines read the whole tar before they apply any layer (in
 * manifest order), so entry order is free, and the engine need not wait for the bottom layer.
 */
export function buildLoadTar(configHex: string, config: Buffer, layers: readonly LoadTarLayer[]): Readable {
  const pack = tar.pack();
  (async () => {
    const mtime = new Date(0);
    pack.entry({ name: `${configHex}.json`, mtime }, config);
    const manifest = [{ Config: `${configHex}.json`, RepoTags: null, Layers: layers.map((l) => `${l.diffHex}/layer.tar`) }];
    pack.entry({ name: 'manifest.json', mtime }, JSON.stringify(manifest));
    const toSend = new Map<string, LoadTarLayer>();
    for (const layer of layers) if (layer.open && !toSend.has(layer.diffHex)) toSend.set(layer.diffHex, layer);
    const pending = new Map([...toSend.values()].map((layer) => [layer.diffHex, Promise.resolve(layer.ready).then(() => layer)]));
    while (pending.size > 0) {
      const layer = await Promise.race(pending.values());
      pending.delete(layer.diffHex);
      pack.entry({ name: `${layer.diffHex}/`, type: 'directory', mtime });
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: `${layer.diffHex}/layer.tar`, size: layer.size, mtime }, (error) =>
          error ? reject(error) : resolve(),
        );
        const source = layer.open?.() as Readable;
        source.on('error', (error) => {
          entry.destroy(error);
          reject(error);
        });
        source.pipe(entry as unknown as NodeJS.WritableStream);
      });
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  // tar-stream packs are streamx streams; engines and pipeline() get a Node stream.
  return Readable.from(pack, { objectMode: false });
}
