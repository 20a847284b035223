/**
 * Engines we cannot run here (Bookworm has Docker 20.10): `docker save` as Docker >= 25
 * writes it (an OCI layout), and Docker's containerd image store, whose image IDs are
 * manifest or index digests and whose loads are taken whole. The saves are fixtures built
 * from moby's save code (test/support/moby-save.ts); the engine is the fake one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { pull, push } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { writeMobySave } from '../../../test/support/moby-save.js';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from './support/fake-engine.js';

const KiB = 1024;
let work: string;
let image: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-stores-'));
  // One layer above the parser's 4 MiB "small blob" line, so both paths are taken.
  image = await buildImageTar(join(work, 'images'), 'stores/app:1', [
    { seed: 'stores-base', size: 5 * 1024 * KiB },
    { seed: 'stores-text', size: 200 * KiB, kind: 'text' },
    { seed: 'stores-top', size: 100 * KiB },
  ]);
});
after(() => rm(work, { recursive: true, force: true }));

const configDigest = (remote: MemoryRemote): string => {
  const pointer = [...remote.objects.keys()].find((k) => k.startsWith('images/sha256/'));
  return `sha256:${pointer?.slice('images/sha256/'.length)}`;
};

for (const store of ['graphdriver', 'containerd'] as const) {
  it(`push from a Docker 25+ save (${store} image store) stores the image under its config digest`, async () => {
    const savePath = join(work, `${store}.tar`);
    const id = await writeMobySave(image, 'stores/app:1', store, savePath);
    if (store === 'containerd') assert.notEqual(id, image.imageId, "the containerd store's ID is not the config digest");
    const engine = new FakeEngine(store);
    engine.add('stores/app:1', image, { tarPath: savePath, id });
    const remote = new MemoryRemote();
    const pushed = await push({ remote, engine, image: 'stores/app:1' });
    assert.equal(pushed.imageId, image.imageId);
    assert.equal(configDigest(remote), image.imageId);
    // Every layer is stored under its diffID, whatever the save held (gzip blobs included).
    for (const diffId of image.diffIds) assert.ok(remote.objects.has(`blobs/sha256/${diffId.slice(7)}`), diffId);

    // And back: a graph-driver engine gets a load it verifies against the diffIDs.
    const target = new FakeEngine();
    const pulled = await pull({ remote, engines: [target], image: 'stores/app:1', cacheDir: join(work, `cache-${store}`) });
    assert.equal(pulled.imageId, image.imageId);
    assert.deepEqual(target.loaded, [image.imageId]);
    assert.deepEqual((await target.inspectImage('stores/app:1'))?.id, image.imageId);
  });
}

it('pull into a containerd-store engine: every layer loaded, named by the load itself, again even when present', async () => {
  const remote = new MemoryRemote();
  const source = new FakeEngine();
  source.add('stores/app:1', image);
  await push({ remote, engine: source, image: 'stores/app:1' });
  const engine = new FakeEngine('containerd');
  const cacheDir = join(work, 'cache-containerd-pull');
  for (let round = 0; round < 2; round++) {
    const result = await pull({ remote, engines: [engine], image: 'stores/app:1', cacheDir });
    assert.equal(result.engines[0]?.layersLoaded, image.diffIds.length, 'the whole image: the store takes no partial load');
    assert.equal(result.engines[0]?.alreadyPresent, false);
  }
  const named = await engine.inspectImage('stores/app:1');
  const manifestStyleId = `sha256:${createHash('sha256').update(image.imageId).digest('hex')}`;
  assert.equal(named?.id, manifestStyleId, 'named by the load, under the id the store gave it');
});
