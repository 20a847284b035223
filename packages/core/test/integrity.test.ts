/**
 * Push, pull and verify against a fake engine and the in-memory remote (seconds, no dockerd):
 * the publish order, a failing write at every step, hostile remotes, repair, the pull cache.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DogestryError, listImages, type PushOptions, pull, push, removeTag, verify } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from './support/fake-engine.js';
import { FaultyRemote } from './support/faulty-remote.js';

const KiB = 1024;
let work: string;
let imageA: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-integrity-'));
  const base = { seed: 'base', size: 300 * KiB };
  const text = { seed: 'text', size: 200 * KiB, kind: 'text' as const };
  imageA = await buildImageTar(join(work, 'images'), 'app-a:1.0', [base, text, { seed: 'top-a', size: 100 * KiB }]);
});
after(() => rm(work, { recursive: true, force: true }));

function engineWith(...images: [string, SyntheticImage][]): FakeEngine {
  const engine = new FakeEngine();
  for (const [tag, image] of images) engine.add(tag, image);
  return engine;
}

const pushTo = (remote: MemoryRemote, engine: FakeEngine, image: string, extra: Partial<PushOptions> = {}) =>
  push({ remote, engine, image, ...extra });

function keys(remote: MemoryRemote, prefix = ''): string[] {
  return [...remote.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
}

async function rejectsWith(promise: Promise<unknown>, code: string, exitCode: number): Promise<DogestryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DogestryError, `expected a DogestryError, got ${(error as Error).stack}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.exitCode, exitCode);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** Keys a push wrote or moved into place, in order, without leases and temporary keys. */
function published(remote: FaultyRemote): string[] {
  return remote.attempts
    .filter((a) => a.startsWith('write ') || a.startsWith('move '))
    .map((a) => a.slice(a.indexOf(' ') + 1))
    .filter((k) => !k.startsWith('leases/') && !k.startsWith('tmp/'));
}

function storedText(remote: MemoryRemote, key: string): string {
  const object = remote.objects.get(key);
  assert.ok(object, key);
  return object.bytes.toString('utf8');
}

const blob = (digest: string) => `blobs/sha256/${digest.replace('sha256:', '')}`;

describe('push publish order', () => {
  it('writes the marker, layers, config, manifest, image pointer, and the tag last', async () => {
    const remote = new FaultyRemote();
    const result = await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    const order = published(remote);
    const at = (key: string) => order.indexOf(key);
    assert.equal(order[0], 'dogestry.json');
    assert.equal(order.at(-1), 'repositories/app-a/1.0');
    assert.equal(order.at(-2), `images/sha256/${result.imageId.slice(7)}`);
    assert.equal(order.at(-3), blob(result.manifestDigest));
    assert.equal(order.at(-4), blob(result.imageId));
    for (const diffId of imageA.diffIds) assert.ok(at(blob(diffId)) > 0 && at(blob(diffId)) < at(blob(result.imageId)), diffId);
    assert.deepEqual(keys(remote, 'leases/'), [], 'the lease is released');
    assert.deepEqual(keys(remote, 'tmp/'), []);
  });

  it('fails the push, publishing no tag, when any write or move fails', async () => {
    const reference = new FaultyRemote();
    await pushTo(reference, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    const normal = (step: string) => step.replace(/tmp\/[0-9a-f-]+\/[0-9a-f-]+/, 'tmp/').replace(/leases\/[0-9a-f-]+/, 'leases/');
    const steps = reference.attempts.filter((a) => !a.startsWith('delete ')).map(normal);
    assert.ok(steps.length >= 9, steps.join('\n'));
    for (const step of new Set(steps)) {
      const remote = new FaultyRemote();
      let failed = false;
      remote.failWhen = (op, key) => {
        if (failed || normal(`${op} ${key}`) !== step) return false;
        failed = true;
        return true;
      };
      await rejectsWith(pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0'), 'TRANSPORT', 7);
      assert.ok(failed, `never reached ${step}`);
      assert.deepEqual(keys(remote, 'repositories/'), [], `a tag was published although ${step} failed`);
    }
  });

  it('fails when a layer move fails while the save still streams (the failure is not swallowed)', async () => {
    const remote = new FaultyRemote();
    let moves = 0;
    remote.failWhen = (op) => op === 'move' && ++moves === 1;
    await rejectsWith(pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0'), 'TRANSPORT', 7);
    assert.equal(moves >= 1, true);
    assert.deepEqual(keys(remote, 'repositories/'), []);
    assert.deepEqual(keys(remote, 'images/'), []);
  });

  it('an engine that dies mid-save is ENGINE (exit 8), and nothing is tagged', async () => {
    const remote = new MemoryRemote();
    const engine = engineWith(['app-a:1.0', imageA]);
    engine.cutSaveAfter = 350 * KiB;
    const error = await rejectsWith(pushTo(remote, engine, 'app-a:1.0'), 'ENGINE', 8);
    assert.match(error.message, /stopped sending the save/);
    assert.deepEqual(keys(remote, 'repositories/'), []);
  });
});

describe('repairing a remote', () => {
  it('a stored layer cut short is uploaded again by the next push', async () => {
    const remote = new MemoryRemote();
    const engine = engineWith(['app-a:1.0', imageA]);
    await pushTo(remote, engine, 'app-a:1.0');
    const key = blob(imageA.diffIds[1] as string);
    const stored = remote.objects.get(key);
    assert.ok(stored);
    remote.objects.set(key, { bytes: stored.bytes.subarray(0, 1000), modified: new Date() });
    assert.equal((await verify({ remote })).problems.length, 1);
    const again = await pushTo(remote, engine, 'app-a:1.0');
    assert.deepEqual(
      again.layers.map((l) => l.result),
      ['present', 'uploaded', 'present'],
    );
    assert.deepEqual((await verify({ remote })).problems, []);
  });

  it('verify --repair deletes only the corrupt blob, and the next push rewrites it', async () => {
    const remote = new MemoryRemote();
    const engine = engineWith(['app-a:1.0', imageA]);
    await pushTo(remote, engine, 'app-a:1.0');
    const key = blob(imageA.diffIds[0] as string);
    const stored = remote.objects.get(key);
    assert.ok(stored);
    const flipped = Buffer.from(stored.bytes);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] as number) ^ 0xff;
    remote.objects.set(key, { bytes: flipped, modified: new Date() });
    const before = keys(remote);

    const report = await verify({ remote });
    assert.deepEqual(
      report.problems.map((p) => [p.key, p.problem]),
      [[key, 'digest-mismatch']],
    );
    assert.deepEqual(keys(remote), before, 'verify without --repair changes nothing');
    // A flipped byte is not visible cheaply: push trusts the blob until repair removes it.
    assert.equal((await pushTo(remote, engine, 'app-a:1.0')).layers[0]?.result, 'present');

    const repaired = await verify({ remote, repair: true });
    assert.deepEqual(repaired.repaired, [key]);
    assert.deepEqual(repaired.pushAgain, ['app-a:1.0']);
    assert.deepEqual(
      keys(remote),
      before.filter((k) => k !== key),
    );
    assert.equal((await pushTo(remote, engine, 'app-a:1.0')).layers[0]?.result, 'uploaded');
    assert.deepEqual((await verify({ remote })).problems, []);
  });
});

/** Store a JSON document as a blob under its digest, answering the digest. */
function putBlob(remote: MemoryRemote, bytes: Buffer): string {
  const hex = createHash('sha256').update(bytes).digest('hex');
  remote.objects.set(`blobs/sha256/${hex}`, { bytes, modified: new Date() });
  return `sha256:${hex}`;
}

describe('hostile remotes', () => {
  type Manifest = { config: { digest: string; size: number }; layers: { digest: string; size: number }[] } & Record<string, unknown>;
  const cases: [string, (m: Manifest, remote: MemoryRemote, config: Buffer) => unknown][] = [
    ['a null layer', (m) => ({ ...m, layers: [null] })],
    ['a config digest that escapes', (m) => ({ ...m, config: { ...m.config, digest: 'sha256:../../x' } })],
    ['a layer digest that is not sha256', (m) => ({ ...m, layers: [{ ...m.layers[0], digest: 'md5:abc' }] })],
    ['an absurd layer size', (m) => ({ ...m, layers: m.layers.map((l) => ({ ...l, size: 1e15 })) })],
    ['a negative layer size', (m) => ({ ...m, layers: m.layers.map((l) => ({ ...l, size: -1 })) })],
    ['a manifest that is an index', (m) => ({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' })],
    [
      'a config that is not JSON',
      (m, remote) => {
        const bad = Buffer.from('not json at all');
        return { ...m, config: { ...m.config, digest: putBlob(remote, bad), size: bad.length } };
      },
    ],
    [
      'diff_ids that disagree with the manifest',
      (m, remote, config) => {
        const parsed = JSON.parse(config.toString('utf8'));
        parsed.rootfs.diff_ids = [...parsed.rootfs.diff_ids].reverse();
        const bad = Buffer.from(JSON.stringify(parsed));
        return { ...m, config: { ...m.config, digest: putBlob(remote, bad), size: bad.length } };
      },
    ],
  ];

  for (const [name, mutate] of cases) {
    it(`${name}: pull is FORMAT (exit 4) and loads nothing; verify reports it and goes on`, async () => {
      const remote = new MemoryRemote();
      const result = await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
      const manifest = JSON.parse(storedText(remote, blob(result.manifestDigest))) as Manifest;
      const config = remote.objects.get(blob(result.imageId))?.bytes as Buffer;
      const bad = putBlob(remote, Buffer.from(JSON.stringify(mutate(manifest, remote, config))));
      remote.objects.set('repositories/evil/1', { bytes: Buffer.from(`${bad}\n`), modified: new Date() });

      const engine = new FakeEngine();
      await rejectsWith(pull({ remote, engine, image: 'evil:1', cacheDir: join(work, 'cache-hostile') }), 'FORMAT', 4);
      assert.deepEqual(engine.loaded, []);
      const report = await verify({ remote });
      assert.deepEqual(report.pushAgain, ['evil:1']);
      assert.equal(report.tags, 2);
    });
  }

  it('a size that is wrong but possible fails the pull as DIGEST_MISMATCH and verify as a size problem', async () => {
    const remote = new MemoryRemote();
    const result = await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    const manifest = JSON.parse(storedText(remote, blob(result.manifestDigest)));
    manifest.layers[2].size -= 1;
    const bad = putBlob(remote, Buffer.from(JSON.stringify(manifest)));
    remote.objects.set('repositories/evil/1', { bytes: Buffer.from(`${bad}\n`), modified: new Date() });
    const engine = new FakeEngine();
    await rejectsWith(pull({ remote, engine, image: 'evil:1', cacheDir: join(work, 'cache-size') }), 'DIGEST_MISMATCH', 4);
    assert.deepEqual(engine.loaded, []);
    const report = await verify({ remote });
    assert.ok(report.problems.some((p) => /the manifest of evil:1 says/.test(p.detail)));
  });

  it('one garbage tag: images lists the good one and flags the bad; verify checks the rest', async () => {
    const remote = new MemoryRemote();
    await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    remote.objects.set('repositories/junk/1', { bytes: Buffer.from('hello\n'), modified: new Date() });
    remote.objects.set('repositories/gone/1', { bytes: Buffer.from(`sha256:${'ab'.repeat(32)}\n`), modified: new Date() });
    const rows = await listImages({ remote });
    assert.deepEqual(
      rows.map((r) => [`${r.name}:${r.tag}`, r.problem === undefined]),
      [
        ['app-a:1.0', true],
        ['gone:1', false],
        ['junk:1', false],
      ],
    );
    const report = await verify({ remote });
    assert.equal(report.blobs, 5, 'three layers, a config and a manifest');
    assert.deepEqual(report.pushAgain, ['gone:1', 'junk:1']);
    // A damaged tag can be removed.
    await removeTag({ remote, image: 'junk:1' });
    assert.equal(remote.objects.has('repositories/junk/1'), false);
  });

  it('a dogestry 1.x remote is refused by every writer and never modified', async () => {
    const id = 'cd'.repeat(32);
    const remote = new MemoryRemote();
    const seed = (key: string, text: string) => remote.objects.set(key, { bytes: Buffer.from(text), modified: new Date() });
    seed('repositories/app-a/1.0', `${id}\n`);
    seed(`images/${id}/layer.tar`, 'tar');
    seed(`images/${id}/json`, '{}');
    const before = keys(remote);
    const engine = engineWith(['app-a:1.0', imageA]);
    await rejectsWith(pushTo(remote, engine, 'app-a:1.0'), 'LEGACY_FORMAT', 4);
    await rejectsWith(pushTo(remote, engine, 'app-a:1.0', { as: 'other:1' }), 'LEGACY_FORMAT', 4);
    await rejectsWith(removeTag({ remote, image: 'app-a:1.0' }), 'LEGACY_FORMAT', 4);
    await rejectsWith(pull({ remote, engine: new FakeEngine(), image: 'app-a:1.0' }), 'LEGACY_FORMAT', 4);
    assert.deepEqual(keys(remote), before);
  });

  it('a writer refuses a remote using a format feature it does not know', async () => {
    const remote = new MemoryRemote();
    remote.objects.set('dogestry.json', {
      bytes: Buffer.from('{"format":2,"features":["leases","from-the-future"]}'),
      modified: new Date(),
    });
    const error = await rejectsWith(pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0'), 'UPGRADE_REQUIRED', 4);
    assert.match(error.message, /from-the-future.*upgrade dogestry/);
    assert.deepEqual(keys(remote), ['dogestry.json']);
  });
});

describe('the pull cache', () => {
  /** Two engines share one download, through the cache: it then holds every layer. */
  async function pulledOnce() {
    const remote = new MemoryRemote();
    await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    await pull({ remote, engines: [new FakeEngine(), new FakeEngine()], image: 'app-a:1.0', cacheDir });
    const files = await readdir(join(cacheDir, 'blobs', 'sha256'));
    assert.equal(files.length, 3);
    return { remote, cacheDir, path: (diffId: string) => join(cacheDir, 'blobs', 'sha256', diffId.slice(7)) };
  }

  const hashOf = async (file: string) =>
    createHash('sha256')
      .update(await readFile(file))
      .digest('hex');

  it('one engine loads the layers the cache holds from it, and reads only the others from the remote', async () => {
    const { remote, cacheDir, path } = await pulledOnce();
    await rm(path(imageA.diffIds[1] as string));
    const read: string[] = [];
    const reading = remote.read.bind(remote);
    remote.read = (key, opts) => {
      read.push(key);
      return reading(key, opts);
    };
    const engine = new FakeEngine();
    const result = await pull({ remote, engine, image: 'app-a:1.0', cacheDir });
    assert.deepEqual(engine.loaded, [imageA.imageId]);
    assert.deepEqual(
      read.filter((key) => key.startsWith('blobs/') && imageA.diffIds.some((d) => key.endsWith(d.slice(7)))),
      [`blobs/sha256/${(imageA.diffIds[1] as string).slice(7)}`],
    );
    assert.equal(result.bytesDownloaded, remote.objects.get(`blobs/sha256/${(imageA.diffIds[1] as string).slice(7)}`)?.bytes.length);
    // The layer read from the remote went straight into the load, not into the cache.
    assert.equal((await readdir(join(cacheDir, 'blobs', 'sha256'))).length, 2);
  });

  it('a cache file with a flipped byte is evicted and fetched again; the load gets the right image', async () => {
    const { remote, cacheDir, path } = await pulledOnce();
    const file = path(imageA.diffIds[0] as string);
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] as number) ^ 1;
    await writeFile(file, bytes);
    // Into two engines, the layer is fetched into the cache again.
    const engines = [new FakeEngine(), new FakeEngine()];
    const events: string[] = [];
    const result = await pull({ remote, engines, image: 'app-a:1.0', cacheDir, onProgress: (e) => events.push(e.type) });
    assert.deepEqual(
      engines.map((e) => e.loaded),
      [[imageA.imageId], [imageA.imageId]],
    );
    assert.ok(events.includes('repair'));
    assert.equal(await hashOf(file), (imageA.diffIds[0] as string).slice(7));
    assert.ok(result.bytesDownloaded > 0);
    // Into one, it is read from the remote straight into the load, and the damaged copy is gone.
    await writeFile(file, bytes);
    const engine = new FakeEngine();
    events.length = 0;
    const again = await pull({ remote, engine, image: 'app-a:1.0', cacheDir, onProgress: (e) => events.push(e.type) });
    assert.deepEqual(engine.loaded, [imageA.imageId]);
    assert.ok(events.includes('repair'));
    await assert.rejects(readFile(file), { code: 'ENOENT' });
    assert.ok(again.bytesDownloaded > 0);
  });

  it('a cache file of the wrong size is evicted before use', async () => {
    const { remote, cacheDir, path } = await pulledOnce();
    const file = path(imageA.diffIds[2] as string);
    await truncate(file, 10);
    const engine = new FakeEngine();
    const repairs: string[] = [];
    await pull({ remote, engine, image: 'app-a:1.0', cacheDir, onProgress: (e) => e.type === 'repair' && repairs.push(e.reason) });
    assert.deepEqual(engine.loaded, [imageA.imageId]);
    // Found by its size, before any byte of it is read (the hash check would catch it later).
    assert.ok(
      repairs.some((reason) => reason.startsWith('cached blob is 10 bytes')),
      repairs.join('; '),
    );
    await assert.rejects(readFile(file), { code: 'ENOENT' });
  });

  it('a cache directory that cannot be written is CACHE (exit 9) when the cache is needed, not the remote', async () => {
    const remote = new MemoryRemote();
    await pushTo(remote, engineWith(['app-a:1.0', imageA]), 'app-a:1.0');
    const cacheDir = await mkdtemp(join(work, 'cache-broken-'));
    await writeFile(join(cacheDir, 'tmp'), 'a file where the cache wants a directory');
    await mkdir(join(cacheDir, 'blobs'), { recursive: true });
    const engines = [new FakeEngine(), new FakeEngine()];
    const error = await rejectsWith(pull({ remote, engines, image: 'app-a:1.0', cacheDir }), 'CACHE', 9);
    assert.match(error.message, /pull cache at .* failed/);
    // One engine needs no cache: the layers stream from the remote into its load.
    const engine = new FakeEngine();
    await pull({ remote, engine, image: 'app-a:1.0', cacheDir });
    assert.deepEqual(engine.loaded, [imageA.imageId]);
  });
});
