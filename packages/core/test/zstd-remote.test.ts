/**
 * `--compression zstd` end to end on the fake engine: the layers are stored zstd-encoded, the
 * marker gains the `zstd` feature before the first one is written (so writers that predate it
 * refuse the remote rather than take its blobs for broken), and pulls read them back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { pull, push } from '@dogestry/core';
import { detectEncoding } from '@dogestry/core/internal';
import { MemoryRemote } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from './support/fake-engine.js';

let work: string;
let image: SyntheticImage;
let other: SyntheticImage;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-zstd-remote-'));
  image = await buildImageTar(join(work, 'a'), 'z/app:1', [
    { seed: 'z-text', size: 2 * 1024 * 1024, kind: 'text' },
    { seed: 'z-random', size: 512 * 1024 },
  ]);
  other = await buildImageTar(join(work, 'b'), 'z/other:1', [{ seed: 'z-other', size: 300 * 1024, kind: 'text' }]);
});
after(() => rm(work, { recursive: true, force: true }));

const marker = (remote: MemoryRemote) =>
  JSON.parse(remote.objects.get('dogestry.json')?.bytes.toString() ?? '{}') as { features: string[] };

it('push --compression zstd stores zstd layers under a marker that says so; pull reads them', async () => {
  const remote = new MemoryRemote();
  const engine = new FakeEngine();
  engine.add('z/app:1', image);
  engine.add('z/other:1', other);
  await push({ remote, engine, image: 'z/other:1' });
  assert.deepEqual(marker(remote).features, ['leases'], 'an lz4 push adds no zstd feature');
  await push({ remote, engine, image: 'z/app:1', compression: 'zstd' });
  assert.deepEqual(marker(remote).features, ['leases', 'zstd']);
  for (const diffId of image.diffIds) {
    const stored = remote.objects.get(`blobs/sha256/${diffId.slice(7)}`);
    assert.equal(stored && detectEncoding(stored.bytes), 'zstd', diffId);
  }
  await push({ remote, engine, image: 'z/other:1' });
  assert.deepEqual(marker(remote).features, ['leases', 'zstd'], 'a feature is never removed');
  const target = new FakeEngine();
  await pull({ remote, engines: [target], image: 'z/app:1', cacheDir: join(work, 'cache') });
  assert.deepEqual(target.loaded, [image.imageId]);
});
