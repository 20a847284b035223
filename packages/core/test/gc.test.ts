/** gc and the writers' protocol against the in-memory remote and a fake engine (seconds, no dockerd). */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gc, type ProgressEvent, pull, push, removeTag, TransportError, verify } from '@dogestry/core';
import { WriterLease } from '@dogestry/core/internal';
import { type DeleteOptions, MemoryRemote, type ReadOptions, type WriteOptions } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { settledWithin } from '../../../test/support/wait.js';
import { FakeEngine } from './support/fake-engine.js';

const KiB = 1024;
let work: string;
const images: Record<string, SyntheticImage> = {};

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-gc-'));
  const base = { seed: 'gc-base', size: 200 * KiB };
  const mid = { seed: 'gc-mid', size: 100 * KiB, kind: 'text' as const };
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
    images[name] = await buildImageTar(join(work, 'images'), `app-${name}:1`, [base, mid, { seed: `gc-top-${name}`, size: 50 * KiB }]);
  }
});
after(() => rm(work, { recursive: true, force: true }));

function engineWithAll(): FakeEngine {
  const engine = new FakeEngine();
  for (const [name, image] of Object.entries(images)) engine.add(`app-${name}:1`, image);
  return engine;
}

const keys = (remote: MemoryRemote, prefix: string) => [...remote.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
const blob = (digest: string) => `blobs/sha256/${digest.replace('sha256:', '')}`;
const age = (remote: MemoryRemote, key: string, seconds: number) => {
  const object = remote.objects.get(key);
  assert.ok(object, key);
  object.modified = new Date(Date.now() - seconds * 1000);
};

describe('gc', () => {
  it('deletes exactly what no tag reaches, and says what it freed', async () => {
    const remote = new MemoryRemote();
    const engine = engineWithAll();
    const a = await push({ remote, engine, image: 'app-a:1' });
    const b = await push({ remote, engine, image: 'app-b:1' });
    await removeTag({ remote, image: 'app-b:1' });
    const onlyB = [blob(images.b?.diffIds[2] as string), blob(b.imageId), blob(b.manifestDigest)];
    const topB = remote.objects.get(onlyB[0] as string)?.bytes.length ?? 0;

    const young = await gc({ remote, grace: 3600 });
    assert.equal(young.freed.count, 0, 'nothing is older than the grace');

    const dry = await gc({ remote, grace: 0, dryRun: true });
    assert.equal(dry.deleted.blobs.count, 3);
    assert.ok(
      onlyB.every((k) => remote.objects.has(k)),
      'a dry run deletes nothing',
    );
    assert.deepEqual(keys(remote, 'gc/'), [], 'a dry run writes no marker');

    const report = await gc({ remote, grace: 0 });
    assert.equal(report.deleted.blobs.count, 3);
    assert.equal(report.deleted.images.count, 1);
    assert.ok(report.deleted.blobs.bytes >= topB);
    assert.equal(report.kept.tags, 1);
    assert.deepEqual(keys(remote, 'blobs/'), [...a.layers.map((l) => blob(l.diffId)), blob(a.imageId), blob(a.manifestDigest)].sort());
    assert.deepEqual(keys(remote, 'images/'), [`images/sha256/${a.imageId.slice(7)}`]);
    assert.deepEqual(keys(remote, 'gc/'), [], 'gc removes its marker');
    assert.deepEqual((await verify({ remote })).problems, []);
  });

  it('honours live leases and their temporary keys; dead ones, expired tickets and stale markers go', async () => {
    const remote = new MemoryRemote();
    await push({ remote, engine: engineWithAll(), image: 'app-a:1' });
    const put = (key: string, text: string, secondsOld = 0) => {
      remote.objects.set(key, { bytes: Buffer.from(text), modified: new Date(Date.now() - secondsOld * 1000) });
    };
    const live = '11111111-1111-1111-1111-111111111111';
    const dead = '22222222-2222-2222-2222-222222222222';
    const kept = 'aa'.repeat(32);
    const lost = 'bb'.repeat(32);
    put(`leases/${live}.json`, JSON.stringify({ ttlSeconds: 60, host: 'h', pid: 1, started: '', blobs: [kept] }));
    put(`leases/${dead}.json`, JSON.stringify({ ttlSeconds: 60, host: 'h', pid: 2, started: '', blobs: [lost] }), 120);
    put(`blobs/sha256/${kept}`, 'protected by a live lease', 500);
    put(`blobs/sha256/${lost}`, 'named only by a dead lease', 500);
    put(`tmp/${live}/upload`, 'in flight', 500);
    put(`tmp/${dead}/upload`, 'left by a killed push', 500);
    put('tickets/old.json', JSON.stringify({ expires: new Date(Date.now() - 1000).toISOString() }));
    put('tickets/new.json', JSON.stringify({ expires: new Date(Date.now() + 3600_000).toISOString() }));
    put('gc/stale.json', JSON.stringify({ ttlSeconds: 60, host: 'h', pid: 3, started: '' }), 120);

    const report = await gc({ remote, grace: 0 });
    assert.ok(remote.objects.has(`blobs/sha256/${kept}`));
    assert.ok(!remote.objects.has(`blobs/sha256/${lost}`));
    assert.deepEqual(keys(remote, 'tmp/'), [`tmp/${live}/upload`]);
    assert.deepEqual(keys(remote, 'leases/'), [`leases/${live}.json`]);
    assert.deepEqual(keys(remote, 'tickets/'), ['tickets/new.json']);
    assert.deepEqual(keys(remote, 'gc/'), []);
    assert.deepEqual(
      [report.deleted.leases.count, report.deleted.tickets.count, report.deleted.markers.count, report.deleted.temporary.count],
      [1, 1, 1, 1],
    );
    assert.equal(report.kept.leases, 1);
  });
});

describe("the writers' protocol", () => {
  it('a push that saw a gc marker waits for it, re-checks, and re-uploads what that gc deleted', async () => {
    const remote = new MemoryRemote();
    const engine = engineWithAll();
    // A gc that listed leases before this push's lease existed, and is still deleting.
    remote.objects.set('gc/running.json', {
      bytes: Buffer.from(JSON.stringify({ ttlSeconds: 30, host: 'h', pid: 1, started: '' })),
      modified: new Date(),
    });
    const events: ProgressEvent[] = [];
    let waited: () => void = () => {};
    const waiting = new Promise<void>((resolve) => {
      waited = resolve;
    });
    const pushing = push({
      remote,
      engine,
      image: 'app-a:1',
      onProgress: (e) => {
        events.push(e);
        if (e.type === 'wait') waited();
      },
    });
    await waiting;
    assert.deepEqual(keys(remote, 'repositories/'), [], 'no tag while a gc that may have missed the lease runs');
    // That gc deletes a layer the push relies on, then ends.
    const layer = blob(images.a?.diffIds[0] as string);
    remote.objects.delete(layer);
    remote.objects.delete('gc/running.json');
    const result = await pushing;
    assert.ok(remote.objects.has(layer), 'the deleted layer was uploaded again before the tag went out');
    assert.ok(result.tagUpdated);
    assert.deepEqual((await verify({ remote })).problems, []);
  });

  it('a lease that is not renewed stops protecting (a killed pusher)', async () => {
    const remote = new MemoryRemote();
    await push({ remote, engine: engineWithAll(), image: 'app-a:1' });
    const hex = 'cc'.repeat(32);
    remote.objects.set(`blobs/sha256/${hex}`, { bytes: Buffer.from('x'), modified: new Date(Date.now() - 10_000) });
    remote.objects.set('leases/33333333-3333-3333-3333-333333333333.json', {
      bytes: Buffer.from(JSON.stringify({ ttlSeconds: 2, host: 'h', pid: 9, started: '', blobs: [hex] })),
      modified: new Date(),
    });
    await gc({ remote, grace: 0 });
    assert.ok(remote.objects.has(`blobs/sha256/${hex}`), 'protected while the lease is live');
    age(remote, 'leases/33333333-3333-3333-3333-333333333333.json', 3);
    await gc({ remote, grace: 0 });
    assert.ok(!remote.objects.has(`blobs/sha256/${hex}`), 'free once it lapsed');
  });

  it('a renewal the store never answers is cut off by release, and none queue behind it (a full radosgw)', async () => {
    const remote = new StallingRemote();
    const lease = await WriterLease.take(remote, 0.2, ['dd'.repeat(32)]); // renewed every 50 ms
    remote.stallLeases = true;
    await sleep(400); // eight renewal periods while the first renewal hangs
    assert.equal(await settledWithin(lease.release(), 2000), true, 'release waited for renewals the store never answers');
    assert.equal(remote.stalled, 1, 'renewals queued behind the one that hangs');
    assert.deepEqual(keys(remote, 'leases/'), []);
  });

  it("gives up a lease's delete the store never answers after a quarter of the ttl (the lease expires anyway)", async () => {
    const remote = new StallingRemote();
    const lease = await WriterLease.take(remote, 0.4, ['ee'.repeat(32)]);
    remote.stallDeletes = true;
    const started = performance.now();
    assert.equal(await settledWithin(lease.release(), 2000), true, 'release waited for a delete the store never answers');
    assert.ok(performance.now() - started < 1000, `released after ${Math.round(performance.now() - started)} ms`);
  });
});

/**
 * The in-memory remote whose lease writes (`stallLeases`) and deletes (`stallDeletes`) never
 * answer once set: only their signal ends them.
 */
class StallingRemote extends MemoryRemote {
  stallLeases = false;
  stallDeletes = false;
  stalled = 0;
  override async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    if (!this.stallLeases || !key.startsWith('leases/')) return super.write(key, body, opts);
    this.stalled++;
    body.resume();
    return stall(`write ${key}`, opts.signal);
  }
  override async delete(keys: readonly string[], opts: DeleteOptions = {}): Promise<void> {
    if (!this.stallDeletes) return super.delete(keys);
    return stall(`delete ${keys.join(' ')}`, opts.signal);
  }
}

/** A promise that only `signal` ends (rejected), as a request to a store that stopped answering. */
function stall(what: string, signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    const cut = () => reject(new TransportError(`${what}: aborted`));
    if (signal?.aborted) cut();
    signal?.addEventListener('abort', cut);
  });
}

/** The in-memory remote with a random delay before every operation, so racing pushers and gc interleave. */
class JitteryRemote extends MemoryRemote {
  private async jitter(): Promise<void> {
    await sleep(Math.floor(Math.random() * 3));
  }
  override async stat(key: string) {
    await this.jitter();
    return super.stat(key);
  }
  override async read(key: string, opts?: ReadOptions): Promise<Readable | undefined> {
    await this.jitter();
    return super.read(key, opts);
  }
  override async write(key: string, body: Readable, opts?: WriteOptions): Promise<'written' | 'exists'> {
    await this.jitter();
    return super.write(key, body, opts);
  }
  override async delete(keys: readonly string[]): Promise<void> {
    await this.jitter();
    return super.delete(keys);
  }
  override async *list(prefix: string): AsyncIterable<string> {
    await this.jitter();
    yield* super.list(prefix);
  }
}

describe('gc racing pushers', () => {
  it('six pushers sharing layers, some rewriting blobs gc is deleting, and gc --grace 0 in a loop: every tag stays whole', async () => {
    const remote = new JitteryRemote();
    const engine = engineWithAll();
    let stop = false;
    let gcRuns = 0;
    const gcLoop = (async () => {
      while (!stop) {
        await gc({ remote, grace: 0, markerSeconds: 5 });
        gcRuns++;
      }
    })();
    try {
      for (let round = 0; round < 4; round++) {
        // Untag everything: the next pushes reuse blobs that gc is collecting.
        for (const key of keys(remote, 'repositories/')) remote.objects.delete(key);
        await Promise.all(Object.keys(images).map((name) => push({ remote, engine, image: `app-${name}:1`, leaseSeconds: 5 })));
        const report = await verify({ remote });
        assert.deepEqual(report.problems, [], `round ${round}`);
        assert.equal(report.tags, 6);
      }
    } finally {
      stop = true;
      await gcLoop;
    }
    assert.ok(gcRuns >= 4, `gc ran ${gcRuns} times`);
    for (const [name, image] of Object.entries(images)) {
      const target = new FakeEngine();
      const pulled = await pull({ remote, engine: target, image: `app-${name}:1`, cacheDir: join(work, 'race-cache') });
      assert.equal(pulled.imageId, image.imageId);
      assert.deepEqual(target.loaded, [image.imageId]);
    }
  });
});
