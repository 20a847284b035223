/**
 * Podman as the engine, through its Docker-compatible API service: push from it (its own save
 * layout), pull into it (it refuses partial loads, so it is sent every layer), and a corrupt
 * layer cutting the streamed load, after which Podman holds no image, no new layer and no
 * uploaded tar.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DigestMismatchError, pull, push } from '@dogestry/core';
import { DockerApiEngine } from '@dogestry/core/internal';
import { type PodmanService, startPodman } from '../support/podman.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

const MiB = 1024 * 1024;
let podman: PodmanService;
let engine: DockerApiEngine;
let work: string;
let image: SyntheticImage;

/** Layers in Podman's store (vfs driver). */
async function podmanLayers(): Promise<string[]> {
  const text = await readFile(join(podman.root, 'vfs-layers', 'layers.json'), 'utf8').catch(() => '[]');
  return (JSON.parse(text) as { id: string }[]).map((l) => l.id).sort();
}

/** Podman tags a loaded image as both localhost/NAME and docker.io/library/NAME, so removal by ID needs force (engine.remove does not). */
function removeImage(id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: podman.host.slice('unix://'.length), method: 'DELETE', path: `/images/${id}?force=true` }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`DELETE image answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-e2e-podman-'));
  podman = await startPodman();
  engine = new DockerApiEngine(podman.host);
  image = await buildImageTar(join(work, 'images'), 'pm-app:1', [
    { seed: 'pm-1', size: 3 * MiB },
    { seed: 'pm-2', size: 2 * MiB, kind: 'text' },
    { seed: 'pm-3', size: 2 * MiB },
  ]);
});

after(async () => {
  await podman?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('Podman API service', () => {
  it('pushes from Podman and pulls back into it, every layer sent', async () => {
    await engine.load(createReadStream(image.tarPath));
    const remote = join(work, 'round-trip');
    const pushed = await push({ remote, image: image.imageId, as: 'pm-app:1', dockerHost: podman.host });
    assert.deepEqual(
      pushed.layers.map((l) => [l.diffId, l.result]),
      image.diffIds.map((d) => [d, 'uploaded']),
    );
    await removeImage(image.imageId);
    assert.equal(await engine.inspectImage(image.imageId), undefined);

    const pulled = await pull({ remote, image: 'pm-app:1', dockerHost: podman.host, cacheDir: join(work, 'cache') });
    assert.deepEqual(
      pulled.engines.map((e) => [e.layersLoaded, e.layersPresent]),
      [[3, 0]],
    );
    assert.deepEqual((await engine.inspectImage(image.imageId))?.diffIds, image.diffIds);
    assert.ok((await podmanLayers()).length >= 3, "the image's layers are in Podman's store");
  });

  it('a corrupt layer cuts the load: no image, no new layer, no uploaded tar left', async () => {
    await engine.load(createReadStream(image.tarPath));
    const remote = join(work, 'corrupt');
    await push({ remote, image: image.imageId, as: 'pm-app:1', dockerHost: podman.host, compression: 'none' });
    // The top layer: the bottom two stream into the load whole before it fails.
    const path = join(remote, 'blobs', 'sha256', (image.diffIds[2] as string).slice(7));
    const bytes = await readFile(path);
    bytes[bytes.length - 4096] = (bytes[bytes.length - 4096] as number) ^ 1;
    await writeFile(path, bytes);
    await removeImage(image.imageId);
    const layersBefore = await podmanLayers();
    // Podman spools an uploaded load tar in its TMPDIR: one is there while a load is in flight.
    const stalled = new PassThrough();
    const loading = assert.rejects(engine.load(stalled));
    stalled.write(Buffer.alloc(MiB));
    assert.ok(await until(async () => (await readdir(podman.tmp)).length > 0), 'an in-flight load is spooled in TMPDIR');
    stalled.destroy(new Error('the test stops this load'));
    await loading;
    assert.ok(await until(async () => (await readdir(podman.tmp)).length === 0));

    await assert.rejects(
      pull({ remote, image: 'pm-app:1', dockerHost: podman.host, cacheDir: join(work, 'cache-corrupt') }),
      DigestMismatchError,
    );
    assert.equal(await engine.inspectImage(image.imageId), undefined, 'no image');
    assert.deepEqual(await podmanLayers(), layersBefore, 'no layer applied');
    assert.ok(await until(async () => (await readdir(podman.tmp)).length === 0), 'no uploaded load tar left');
  });
});
