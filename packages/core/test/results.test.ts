/** What push and pull report and name, checked against a fake engine (no dockerd). */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { pull, push } from '@dogestry/core';
import { MemoryRemote, type WriteOptions } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from './support/fake-engine.js';

const KiB = 1024;
let work: string;
let image: SyntheticImage;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-results-'));
  image = await buildImageTar(join(work, 'images'), 'app:1', [
    { seed: 'res-base', size: 200 * KiB },
    { seed: 'res-top', size: 100 * KiB, kind: 'text' },
  ]);
});
after(() => rm(work, { recursive: true, force: true }));

const engineWithImage = () => {
  const engine = new FakeEngine();
  engine.add('app:1', image);
  return engine;
};

it('a repeat push reports each present layer with its size', async () => {
  const remote = new MemoryRemote();
  const first = await push({ remote, engine: engineWithImage(), image: 'app:1' });
  const again = await push({ remote, engine: engineWithImage(), image: 'app:1' });
  assert.deepEqual(
    again.layers.map((l) => [l.result, l.size]),
    first.layers.map((l) => ['present', l.size]),
  );
  assert.ok(first.layers.every((l) => l.size > 0));
});

/** A remote where another pusher writes each layer first, just before ours lands. */
class RacedRemote extends MemoryRemote {
  override async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    if (key.startsWith('blobs/') && opts.createOnly && !this.objects.has(key)) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      this.objects.set(key, { bytes: Buffer.concat(chunks), modified: new Date() }); // the other pusher's copy
      return 'exists';
    }
    return super.write(key, body, opts);
  }
  override async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    if (to.startsWith('blobs/') && !this.objects.has(to)) {
      const object = this.objects.get(from);
      if (object) this.objects.set(to, object);
    }
    return super.move(from, to, opts);
  }
}

it('a layer another pusher wrote first is reported present, and its bytes are not counted', async () => {
  const remote = new RacedRemote();
  const result = await push({ remote, engine: engineWithImage(), image: 'app:1' });
  assert.deepEqual(
    result.layers.map((l) => l.result),
    ['present', 'present'],
  );
  const metadata = [...remote.objects.keys()].filter((k) => !k.startsWith('blobs/') || k.endsWith(result.imageId.slice(7)));
  assert.ok(result.bytesWritten < 10 * KiB, `${result.bytesWritten} bytes counted for ${metadata.length} small keys`);
});

it('an id-prefix pull tags the image with the one name the remote holds it under, and leaves it untagged when several', async () => {
  const remote = new MemoryRemote();
  await push({ remote, engine: engineWithImage(), image: 'app:1' });
  const prefix = image.imageId.slice(7, 15);
  const engine = new FakeEngine();
  const byId = await pull({ remote, engine, image: prefix, cacheDir: join(work, 'cache') });
  assert.equal(byId.image, 'app:1');
  assert.deepEqual((await engine.inspectImage(image.imageId))?.repoTags, ['app:1']);

  await push({ remote, engine: engineWithImage(), image: 'app:1', as: 'app:also' });
  const second = new FakeEngine();
  const ambiguous = await pull({ remote, engine: second, image: prefix, cacheDir: join(work, 'cache') });
  assert.equal(ambiguous.image, undefined);
  assert.deepEqual((await second.inspectImage(image.imageId))?.repoTags, []);
});

it('an id prefix on a remote that cannot list says so, instead of suggesting `images`', async () => {
  const remote = new MemoryRemote();
  await push({ remote, engine: engineWithImage(), image: 'app:1' });
  Object.assign(remote, { capabilities: { write: false, list: false, createOnly: true } });
  await assert.rejects(pull({ remote, engine: new FakeEngine(), image: image.imageId.slice(7, 15) }), {
    code: 'NOT_FOUND',
    message: /cannot list its keys, so an image-id prefix cannot be matched there: give the full 64-digit image id/,
  });
});

it('pull and images from a place that holds no repository say so (NOT_FOUND), not "no such image"', async () => {
  await assert.rejects(pull({ remote: join(work, 'does-not-exist'), engine: new FakeEngine(), image: 'app:1' }), {
    code: 'NOT_FOUND',
    message: /holds no dogestry repository/,
  });
});

it('a push cancelled mid-save rejects with ABORTED and publishes no tag; a cancelled pull loads nothing', async () => {
  const remote = new MemoryRemote();
  const stop = new AbortController();
  const slow = engineWithImage();
  slow.saveChunkDelayMs = 5;
  await assert.rejects(
    push({
      remote,
      engine: slow,
      image: 'app:1',
      signal: stop.signal,
      onProgress: (e) => {
        // Cancel while the save streams (it takes ~30 ms here).
        if (e.type === 'export') setTimeout(() => stop.abort(), 12);
      },
    }),
    { code: 'ABORTED', exitCode: 130 },
  );
  assert.deepEqual(
    [...remote.objects.keys()].filter((k) => k.startsWith('repositories/') || k.startsWith('leases/')),
    [],
    'no tag, and the lease was released',
  );

  await push({ remote, engine: engineWithImage(), image: 'app:1' });
  const engine = new FakeEngine();
  const cancelPull = new AbortController();
  await assert.rejects(
    pull({
      remote,
      engine,
      image: 'app:1',
      cacheDir: join(work, 'cancel-cache'),
      signal: cancelPull.signal,
      onProgress: (e) => {
        if (e.type === 'layer-start') cancelPull.abort();
      },
    }),
    { code: 'ABORTED' },
  );
  assert.deepEqual(engine.loaded, []);
});
