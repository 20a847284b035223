/**
 * The ways push places a layer from Docker 20.10's legacy save (where a layer's diffID is
 * known only once hashed), observed write by write on a memory remote, with a real dockerd:
 * only-missing images stream to tmp/ and move into place; mixed images spool locally and
 * write nothing they need not; transport failures and bad engine bytes publish nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DigestMismatchError, EngineError, pull, push, TransportError, verify } from '@dogestry/core';
import { DockerApiEngine, decode } from '@dogestry/core/internal';
import { MemoryRemote, type WriteOptions } from '@dogestry/core/transport';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';

const MiB = 1024 * 1024;
const base1 = { seed: 'paths-1', size: 3 * MiB };
const base2 = { seed: 'paths-2', size: 2 * MiB, kind: 'text' as const };

let dockerd: Dockerd;
let work: string;
let imageA: SyntheticImage;
let imageB: SyntheticImage;
let single: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-paths-'));
  dockerd = await startDockerd();
  imageA = await buildImageTar(join(work, 'images'), 'paths-a:1', [base1, base2, { seed: 'paths-top-a', size: 1 * MiB }]);
  imageB = await buildImageTar(join(work, 'images'), 'paths-b:1', [base1, base2, { seed: 'paths-top-b', size: 2 * MiB }]);
  single = await buildImageTar(join(work, 'images'), 'paths-single:1', [{ seed: 'paths-only', size: 4 * MiB }]);
  for (const image of [imageA, imageB, single]) await dockerd.docker('load', '-i', image.tarPath);
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

const blob = (digest: string): string => `blobs/sha256/${digest.slice(7)}`;

async function decodedSha(stored: Buffer | undefined): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of decode(Readable.from([stored ?? Buffer.alloc(0)]))) hash.update(chunk);
  return hash.digest('hex');
}

/** The engine, with its save stream passed through `change`. */
function engineWithSave(change: () => Transform): DockerApiEngine {
  const engine = new DockerApiEngine(dockerd.host);
  const save = engine.save.bind(engine);
  engine.save = async (reference: string): Promise<Readable> => (await save(reference)).pipe(change());
  return engine;
}

/** Flip one byte at `offset` of a stream. */
function flipByteAt(offset: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (offset >= seen && offset < seen + chunk.length) {
        const copy = Buffer.from(chunk);
        copy[offset - seen] = (copy[offset - seen] as number) ^ 0xff;
        chunk = copy;
      }
      seen += chunk.length;
      callback(null, chunk);
    },
  });
}

describe('push paths (legacy save layout)', () => {
  it('an image whose layers are all missing: streamed to tmp/, moved into place, tag last, nothing left in tmp/', async () => {
    const remote = new MemoryRemote();
    const result = await push({ remote, image: 'paths-a:1', dockerHost: dockerd.host });
    assert.deepEqual(
      result.layers.map((l) => l.result),
      ['uploaded', 'uploaded', 'uploaded'],
    );
    const keys = [...remote.objects.keys()];
    assert.deepEqual(
      keys.filter((k) => k.startsWith('tmp/')),
      [],
    );
    for (const diffId of imageA.diffIds) assert.ok(remote.objects.has(blob(diffId)), `layer ${diffId} stored`);
    const order = remote.writes;
    assert.equal(order.at(-1), 'repositories/paths-a/1', 'the tag is written last');
    assert.equal(order.at(-2), `images/sha256/${imageA.imageId.slice(7)}`, 'the image pointer just before it');
    const lastLayer = Math.max(...imageA.diffIds.map((d) => order.indexOf(blob(d))));
    assert.ok(lastLayer < order.indexOf(blob(imageA.imageId)), 'every layer before the config');
    assert.equal((await verify({ remote })).problems.length, 0);
  });

  it('an image sharing layers with the remote writes only its new layer: no temporary upload of layers the remote has', async () => {
    const remote = new MemoryRemote();
    await push({ remote, image: 'paths-a:1', dockerHost: dockerd.host });
    const before = remote.writes.length;
    const result = await push({ remote, image: 'paths-b:1', dockerHost: dockerd.host });
    // Lease writes are the gc protocol's bookkeeping (deleted when the push ends).
    const written = remote.writes.slice(before).filter((k) => !k.startsWith('leases/'));
    assert.deepEqual(
      result.layers.map((l) => l.result),
      ['present', 'present', 'uploaded'],
    );
    assert.deepEqual(
      written.sort(),
      [
        blob(imageB.diffIds[2] as string),
        blob(result.manifestDigest),
        blob(imageB.imageId),
        `images/sha256/${imageB.imageId.slice(7)}`,
        'repositories/paths-b/1',
      ].sort(),
    );
    assert.equal((await verify({ remote })).problems.length, 0);
  });

  it('a transport that fails mid-layer fails the push with its own error, and publishes no image pointer and no tag', async () => {
    const failure = new TransportError('disk on fire', { retryable: true });
    class FailingRemote extends MemoryRemote {
      override async write(key: string, body: Readable, opts?: WriteOptions): Promise<'written' | 'exists'> {
        if (!key.startsWith('tmp/') && !key.startsWith('blobs/')) return super.write(key, body, opts);
        const chunks: Buffer[] = [];
        let bytes = 0;
        for await (const chunk of body) {
          chunks.push(chunk as Buffer);
          bytes += (chunk as Buffer).length;
          if (bytes > MiB) {
            body.destroy();
            throw failure;
          }
        }
        return super.write(key, Readable.from(chunks), opts);
      }
    }
    const remote = new FailingRemote();
    await assert.rejects(push({ remote, image: 'paths-a:1', dockerHost: dockerd.host }), (error) => error === failure);
    const keys = [...remote.objects.keys()];
    assert.deepEqual(
      keys.filter((k) => k.startsWith('repositories/') || k.startsWith('images/') || k.startsWith('tmp/')),
      [],
    );
  });

  for (const [what, name, code] of [
    ['the only missing layer (streamed straight to its key)', 'paths-single:1', /hash to/],
    ['a layer streamed to tmp/', 'paths-a:1', /lacks layer/],
  ] as const) {
    it(`engine bytes that do not hash to the image's diffIDs fail the push as ENGINE and publish nothing: ${what}`, async () => {
      const image = name === 'paths-single:1' ? single : imageA;
      const remote = new MemoryRemote();
      const engine = engineWithSave(() => flipByteAt(MiB));
      await assert.rejects(push({ remote, image: name, engine }), (error) => error instanceof EngineError && code.test(error.message));
      // Layers that arrived intact may stay as valid blobs (the next push reuses them, gc reclaims them); nothing else may.
      const intact = new Set(image.diffIds.map(blob));
      const keys = [...remote.objects.keys()].filter((k) => k !== 'dogestry.json');
      assert.deepEqual(
        keys.filter((k) => !intact.has(k)),
        [],
        'no corrupt blob, no tmp/ key, no image pointer, no tag',
      );
      for (const key of keys)
        assert.equal(await decodedSha(remote.objects.get(key)?.bytes), key.slice('blobs/sha256/'.length), `${key} is intact`);
    });
  }
});

describe('pull failing fast', () => {
  /** The remote of paths-a:1 with its bottom layer corrupt, and every other layer arriving only in part, then never ending: only being stopped ends it. */
  async function corruptAndHanging() {
    const remote = new MemoryRemote();
    await push({ remote, image: 'paths-a:1', dockerHost: dockerd.host, compression: 'none' });
    const [bottom, ...others] = imageA.diffIds.map(blob);
    const corrupt = remote.objects.get(bottom as string)?.bytes as Buffer;
    corrupt[100] = (corrupt[100] as number) ^ 1;
    const hanging: PassThrough[] = [];
    const read = remote.read.bind(remote);
    remote.read = async (key, opts) => {
      if (!others.includes(key)) return read(key, opts);
      const stream = new PassThrough();
      stream.write(remote.objects.get(key)?.bytes.subarray(0, 4096));
      hanging.push(stream);
      return stream;
    };
    await dockerd.docker('rmi', 'paths-a:1', 'paths-b:1'); // B shares A's bottom layers: without it, all three are needed
    return { remote, hanging, before: await dockerd.docker('images', '-q', '--no-trunc') };
  }

  it('into one engine, a corrupt layer fails the pull before any later layer is read', { timeout: 60_000 }, async () => {
    const { remote, hanging, before } = await corruptAndHanging();
    await assert.rejects(
      pull({ remote, image: 'paths-a:1', dockerHost: dockerd.host, cacheDir: join(work, 'fail-fast-one') }),
      DigestMismatchError,
    );
    assert.equal(hanging.length, 0, 'the layers after it were never read');
    assert.equal(await dockerd.docker('images', '-q', '--no-trunc'), before, 'nothing loaded');
    for (const image of [imageA, imageB]) await dockerd.docker('load', '-i', image.tarPath);
  });

  it('into several engines, a corrupt layer stops the other downloads instead of waiting for them', { timeout: 60_000 }, async () => {
    const { remote, hanging, before } = await corruptAndHanging();
    // Two loads (into the one engine here) share the downloads, through the cache.
    const engines = [new DockerApiEngine(dockerd.host), new DockerApiEngine(dockerd.host)];
    await assert.rejects(
      pull({ remote, image: 'paths-a:1', engines, cacheDir: join(work, 'fail-fast-cache'), concurrency: 2 }),
      DigestMismatchError,
    );
    assert.equal(hanging.length, 1, 'the download queued behind the failure never started');
    assert.ok(
      hanging.every((s) => s.destroyed),
      'the download in flight was stopped',
    );
    assert.equal(await dockerd.docker('images', '-q', '--no-trunc'), before, 'nothing loaded');
    for (const image of [imageA, imageB]) await dockerd.docker('load', '-i', image.tarPath);
  });
});
