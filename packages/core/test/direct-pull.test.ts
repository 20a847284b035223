/**
 * Pull from a remote into one engine: layers stream from the remote into the load with no
 * cache copy (direct-layer.ts), the next layer's read starting before the load asks for it,
 * and no unverified layer is ever loaded.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DogestryError, type ProgressEvent, pull, push } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { lent, pipeGivingBack } from '../src/buffer-pool.ts';
import { DirectLayer } from '../src/direct-layer.ts';
import { FakeEngine } from './support/fake-engine.js';

const KiB = 1024;
let work: string;
let image: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-direct-'));
  image = await buildImageTar(join(work, 'images'), 'app:1', [
    { seed: 'direct-base', size: 3 * 1024 * KiB },
    { seed: 'direct-text', size: 2 * 1024 * KiB, kind: 'text' },
    { seed: 'direct-top', size: 100 * KiB },
  ]);
});
after(() => rm(work, { recursive: true, force: true }));

async function pushed(): Promise<MemoryRemote> {
  const remote = new MemoryRemote();
  const engine = new FakeEngine();
  engine.add('app:1', image);
  await push({ remote, engine, image: 'app:1' });
  return remote;
}

const layerKey = (diffId: string) => `blobs/sha256/${diffId.slice(7)}`;
const storedBytes = (remote: MemoryRemote) =>
  image.diffIds.reduce((sum, diffId) => sum + (remote.objects.get(layerKey(diffId))?.bytes.length ?? 0), 0);

async function cacheFiles(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DogestryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DogestryError, `expected a DogestryError, got ${(error as Error).stack}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('pull into one engine', () => {
  it('streams every layer into the load with nothing in the cache, and counts what it read', async () => {
    const remote = await pushed();
    const engine = new FakeEngine();
    const cacheDir = join(work, 'cache-direct');
    const events: ProgressEvent[] = [];
    const result = await pull({ remote, engine, image: 'app:1', cacheDir, onProgress: (e) => events.push(e) });
    assert.deepEqual(engine.loaded, [image.imageId]);
    assert.deepEqual(await cacheFiles(cacheDir), [], 'no cache copy');
    assert.equal(result.bytesDownloaded, storedBytes(remote));
    const done = events.filter((e) => e.type === 'layer-done');
    assert.deepEqual(done.map((e) => e.diffId).sort(), [...image.diffIds].sort());
    assert.ok(done.every((e) => e.type === 'layer-done' && e.result === 'downloaded'));
  });

  it('loads only what the engine lacks', async () => {
    const remote = await pushed();
    const partial = await buildImageTar(join(work, 'images-partial'), 'base:1', [{ seed: 'direct-base', size: 3 * 1024 * KiB }]);
    assert.equal(partial.diffIds[0], image.diffIds[0]);
    const holder = new FakeEngine();
    holder.add('base:1', partial);
    const events: ProgressEvent[] = [];
    const result = await pull({
      remote,
      engine: holder,
      image: 'app:1',
      cacheDir: join(work, 'cache-delta'),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.engines[0]?.layersPresent, 1);
    assert.equal(result.engines[0]?.layersLoaded, 2);
    assert.equal(events.filter((e) => e.type === 'layer-start').length, 2, 'the present layer is not read');
  });

  it('two engines to load still share one download through the cache', async () => {
    const remote = await pushed();
    const engines = [new FakeEngine(), new FakeEngine()];
    const cacheDir = join(work, 'cache-two');
    await pull({ remote, engines, image: 'app:1', cacheDir });
    assert.deepEqual(
      engines.map((e) => e.loaded),
      [[image.imageId], [image.imageId]],
    );
    assert.equal((await cacheFiles(cacheDir)).length, 3);
  });

  it('a damaged stored layer is DIGEST_MISMATCH and the engine loads nothing', async () => {
    const remote = await pushed();
    // The random base layer is stored as raw lz4 blocks: a flipped byte decodes to other bytes.
    const stored = remote.objects.get(layerKey(image.diffIds[0] as string));
    assert.ok(stored);
    const at = stored.bytes.length - 100;
    stored.bytes[at] = (stored.bytes[at] as number) ^ 1;
    const engine = new FakeEngine();
    const error = await rejectsWith(pull({ remote, engine, image: 'app:1', cacheDir: join(work, 'cache-bad') }), 'DIGEST_MISMATCH');
    assert.match(error.message, new RegExp(image.diffIds[0]?.slice(7, 19) as string));
    assert.deepEqual(engine.loaded, []);
  });

  it('a manifest that says a layer is empty still has that layer checked: DIGEST_MISMATCH, nothing loaded', async () => {
    const remote = await pushed();
    const tag = remote.objects.get('repositories/app/1')?.bytes.toString('utf8').trim() as string;
    const manifest = JSON.parse(remote.objects.get(`blobs/sha256/${tag.slice(7)}`)?.bytes.toString('utf8') as string);
    manifest.layers[1].size = 0;
    const bytes = Buffer.from(JSON.stringify(manifest));
    const hex = createHash('sha256').update(bytes).digest('hex');
    remote.objects.set(`blobs/sha256/${hex}`, { bytes, modified: new Date() });
    remote.objects.set('repositories/evil/1', { bytes: Buffer.from(`sha256:${hex}\n`), modified: new Date() });
    const engine = new FakeEngine();
    await rejectsWith(pull({ remote, engine, image: 'evil:1', cacheDir: join(work, 'cache-empty') }), 'DIGEST_MISMATCH');
    assert.deepEqual(engine.loaded, []);
  });

  it('a missing stored layer is NOT_FOUND, telling what to do', async () => {
    const remote = await pushed();
    remote.objects.delete(layerKey(image.diffIds[1] as string));
    const error = await rejectsWith(
      pull({ remote, engine: new FakeEngine(), image: 'app:1', cacheDir: join(work, 'cache-gone') }),
      'NOT_FOUND',
    );
    assert.match(error.message, /dogestry verify/);
  });

  it("hands over all but a layer's last byte as it arrives, and the last byte only once the layer verified", async () => {
    // Stored as is (compression none), so each stored byte is a layer byte; the remote holds
    // back the last one until the test lets it through, right or wrong.
    const remote = new MemoryRemote();
    const engine = new FakeEngine();
    engine.add('app:1', image);
    await push({ remote, engine, image: 'app:1', compression: 'none' });
    const diffId = image.diffIds[0] as string;
    const stored = remote.objects.get(layerKey(diffId))?.bytes as Buffer;
    const { size: length } = await stat(image.layerPaths[0] as string);
    assert.equal(stored.length, length);
    for (const last of [(stored.at(-1) as number) ^ 1, stored.at(-1) as number]) {
      let release: (byte: Buffer) => void = () => {};
      const gate = new Promise<Buffer>((resolve) => (release = resolve));
      const held = Object.create(remote) as MemoryRemote;
      held.read = async () =>
        Readable.from(
          (async function* () {
            yield stored.subarray(0, -1);
            yield await gate;
          })(),
        );
      const reader = new DirectLayer(held, diffId.slice(7), length).reader();
      let position = 0;
      const got = createHash('sha256');
      const reading = (async () => {
        while (position < length) {
          const chunk = await reader.read(position, 256 * KiB);
          got.update(chunk);
          position += chunk.length;
        }
      })();
      while (position < length - 1) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(position, length - 1, 'everything but the last byte, and the last byte waits');
      release(Buffer.from([last]));
      if (last === stored.at(-1)) {
        await reading;
        assert.equal(got.digest('hex'), diffId.slice(7));
      } else {
        await rejectsWith(reading, 'DIGEST_MISMATCH');
        assert.equal(position, length - 1, 'the wrong last byte never reached the load');
      }
    }
  });

  it('lends decoded blocks to the load and reuses each only once the load took its bytes', async (t) => {
    // A compressible layer of 40 MiB (40 blocks decoded into the pull's pool) and a random one of
    // 6 MiB (stored raw: 6 segments copied into it). Each goes to the load whole, and up to ~12
    // are out at once (the layer's read-ahead, the load's buffer and the socket's, the hash's).
    const text = await buildImageTar(join(work, 'images-text'), 'text:1', [
      { seed: 'direct-lent', size: 40 * 1024 * KiB, kind: 'text' },
      { seed: 'direct-lent-raw', size: 6 * 1024 * KiB },
    ]);
    const remote = new MemoryRemote();
    const source = new FakeEngine();
    source.add('text:1', text);
    await push({ remote, engine: source, image: 'text:1' });
    const engine = new SocketEngine();
    await pull({ remote, engine, image: 'text:1', cacheDir: join(work, 'cache-lent') });
    // The fake engine checked every layer against its diffID, from copies taken as a slow
    // socket would take them: a block reused before that would have failed the load.
    assert.deepEqual(engine.loaded, [text.imageId]);
    const layerBytes = (await Promise.all(text.layerPaths.map((path) => stat(path)))).reduce((sum, s) => sum + s.size, 0);
    assert.equal(engine.lentBytes, layerBytes, 'every decoded block and raw segment was lent');
    t.diagnostic(`${engine.lentBuffers} buffers for ${engine.lentChunks} chunks`);
    assert.ok(engine.lentBuffers < engine.lentChunks / 2, `and reused (${engine.lentBuffers} buffers for ${engine.lentChunks} chunks)`);
  });
});

describe('the next layer', () => {
  let two: SyntheticImage;
  before(async () => {
    two = await buildImageTar(join(work, 'images-two'), 'two:1', [
      { seed: 'direct-next-base', size: 6 * 1024 * KiB },
      { seed: 'direct-next-top', size: 8 * 1024 * KiB },
    ]);
  });

  /**
   * `two:1` pushed (both layers random: stored raw), every read of a layer recorded as it is
   * asked for, then with its stream, which comes in 64 KiB chunks.
   */
  async function recorded() {
    const remote = new MemoryRemote();
    const source = new FakeEngine();
    source.add('two:1', two);
    await push({ remote, engine: source, image: 'two:1' });
    const reads: { diffId: string; body: Readable | undefined }[] = [];
    const reading = remote.read.bind(remote);
    remote.read = async (key, opts) => {
      const diffId = two.diffIds.find((d) => key === layerKey(d));
      const read = diffId ? { diffId, body: undefined as Readable | undefined } : undefined;
      if (read) reads.push(read);
      const whole = await reading(key, opts);
      if (!read || !whole) return whole;
      const bytes = Buffer.concat(await whole.toArray());
      read.body = Readable.from(
        (function* () {
          for (let at = 0; at < bytes.length; at += 64 * KiB) yield bytes.subarray(at, at + 64 * KiB);
        })(),
      );
      return read.body;
    };
    return { remote, reads };
  }

  it('is read from the remote once the layer before it is, before the load asks for it', async () => {
    const { remote, reads } = await recorded();
    const [base, top] = two.diffIds as [string, string];
    const sizes = await Promise.all(two.layerPaths.map(async (path) => (await stat(path)).size));
    for (const chained of [true, false]) {
      reads.length = 0;
      const first = new DirectLayer(remote, base.slice(7), sizes[0] as number);
      const next = new DirectLayer(remote, top.slice(7), sizes[1] as number);
      if (chained) first.followedBy(next);
      const reader = first.reader();
      for (let at = 0; at < (sizes[0] as number); ) at += (await reader.read(at, 256 * KiB)).length;
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(
        reads.map((r) => r.diffId),
        chained ? [base, top] : [base],
        chained ? 'the next layer started on its own' : 'an unchained layer waits for its reader',
      );
      next.abandon();
    }
  });

  it('a load that fails while the next layer is read early fails with its own error, and the read stops', async () => {
    const { remote, reads } = await recorded();
    const engine = new GivingUpEngine(() => reads.length === 2);
    const error = await pull({ remote, engine, image: 'two:1', cacheDir: join(work, 'cache-next') }).then(
      () => assert.fail('the load gave up'),
      (e: Error) => e,
    );
    assert.match(error.message, /the engine gave up/);
    assert.deepEqual(
      reads.map((r) => r.diffId),
      two.diffIds,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(
      reads.every((r) => r.body?.destroyed),
      'no read of the remote is left open',
    );
  });
});

/** An engine that reads its load until `ready()`, then fails it (a disk filling up, say). */
class GivingUpEngine extends FakeEngine {
  constructor(private readonly ready: () => boolean) {
    super();
  }

  override async load(stream: Readable): Promise<void> {
    for await (const _chunk of stream) {
      if (this.ready()) {
        stream.destroy();
        throw new Error('the engine gave up');
      }
    }
    assert.fail('the load was read to its end');
  }
}

/**
 * An engine whose load takes the tar as a busy socket does: through the engine client's own
 * writer (pipeGivingBack), each chunk's bytes copied only a moment after it was written.
 */
class SocketEngine extends FakeEngine {
  lentChunks = 0;
  lentBytes = 0;
  private readonly buffers = new Set<ArrayBufferLike>();

  get lentBuffers(): number {
    return this.buffers.size;
  }

  override async load(stream: Readable): Promise<void> {
    const copies = new PassThrough();
    const socket = new Writable({
      highWaterMark: 2 * 1024 * KiB,
      write: (chunk: Buffer, _encoding, callback) => {
        if (lent(chunk)) {
          this.lentChunks++;
          this.lentBytes += chunk.length;
          this.buffers.add(chunk.buffer);
        }
        setImmediate(() => {
          copies.write(Buffer.from(chunk));
          callback();
        });
      },
      final: (callback) => {
        copies.end();
        callback();
      },
    });
    stream.once('error', (error) => copies.destroy(error));
    pipeGivingBack(stream, socket);
    await super.load(copies);
  }
}
