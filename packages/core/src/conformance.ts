/**
 * The Remote conformance suite: every transport's test file calls `remoteConformance` with a
 * factory for a fresh, empty remote, and the same assertions run against all of them.
 * Imported as `@dogestry/core/conformance` (it depends on node:test, so it is not part of the
 * main entry point).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { InvalidReferenceError, ReadOnlyError } from './errors.js';
import type { Remote } from './remote.js';
import { readAll } from './streams.js';

export interface ConformanceTarget {
  readonly remote: Remote;
  /** Put bytes at a key behind the remote's back (for read-only remotes); defaults to remote.write. */
  readonly seed?: (key: string, bytes: Buffer) => Promise<void>;
  readonly cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** The remote refuses writes: check reads against seeded data and that writes fail with READ_ONLY. */
  readonly readOnly?: boolean;
}

const text = (s: string): Readable => Readable.from([Buffer.from(s)]);
const bytesOf = async (stream: Readable | undefined): Promise<Buffer | undefined> => (stream ? readAll(stream, 1 << 30) : undefined);

/**
 * A body that sends `goodBytes` of random bytes, then fails (`'fail'`), or neither sends more
 * nor ends (`'stall'`: a producer that hangs).
 */
function partialBody(goodBytes: number, then: 'fail' | 'stall'): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(randomBytes(goodBytes));
      } else if (then === 'fail') this.destroy(new Error('body failed on purpose'));
    },
  });
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of iterable) keys.push(key);
  return keys.sort();
}

export function remoteConformance(name: string, open: () => Promise<ConformanceTarget>, options: ConformanceOptions = {}): void {
  describe(`Remote conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let remote: Remote;
    const seed = (key: string, bytes: Buffer): Promise<unknown> =>
      target.seed ? target.seed(key, bytes) : remote.write(key, Readable.from([bytes]));

    before(async () => {
      target = await open();
      remote = target.remote;
      // Capabilities a transport finds out lazily are known from here on.
      await remote.prepare?.('write');
      await remote.prepare?.('list');
    });
    after(async () => {
      await remote.close?.();
      await target.cleanup?.();
    });

    it('has a url without credentials', () => {
      assert.ok(remote.url.length > 0);
      assert.doesNotMatch(remote.url, /\/\/[^/@]+:[^/@]+@/, 'url must not carry user:password');
    });

    it('answers undefined for a missing key, on stat and read', async () => {
      assert.equal(await remote.stat('blobs/sha256/missing'), undefined);
      assert.equal(await remote.read('blobs/sha256/missing'), undefined);
    });

    it('reads back seeded bytes, whole and from an offset', async () => {
      const bytes = randomBytes(300_000);
      await seed('conformance/read/blob', bytes);
      assert.equal((await remote.stat('conformance/read/blob'))?.size, bytes.length);
      assert.deepEqual(await bytesOf(await remote.read('conformance/read/blob')), bytes);
      assert.deepEqual(await bytesOf(await remote.read('conformance/read/blob', { offset: 123_456 })), bytes.subarray(123_456));
    });

    if (options.readOnly) {
      it('refuses writes and deletes with READ_ONLY', async () => {
        assert.equal(remote.capabilities.write, false);
        await assert.rejects(remote.write('conformance/nope', text('x')), (e: unknown) => e instanceof ReadOnlyError);
        await assert.rejects(remote.delete(['conformance/read/blob']), (e: unknown) => e instanceof ReadOnlyError);
        assert.ok(await remote.stat('conformance/read/blob'), 'a refused delete removed nothing');
      });
      return;
    }

    it('writes a stream and reads the same bytes back', async () => {
      const bytes = randomBytes(20 * 1024 * 1024 + 17);
      const chunks = Array.from({ length: 21 }, (_, i) => bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
      assert.equal(await remote.write('conformance/big', Readable.from(chunks)), 'written');
      assert.equal((await remote.stat('conformance/big'))?.size, bytes.length);
      const back = await bytesOf(await remote.read('conformance/big'));
      assert.equal(
        createHash('sha256')
          .update(back ?? Buffer.alloc(0))
          .digest('hex'),
        createHash('sha256').update(bytes).digest('hex'),
      );
    });

    it('writes an empty object', async () => {
      assert.equal(await remote.write('conformance/empty', Readable.from([])), 'written');
      assert.equal((await remote.stat('conformance/empty'))?.size, 0);
      assert.deepEqual(await bytesOf(await remote.read('conformance/empty')), Buffer.alloc(0));
    });

    it('never overwrites with createOnly, and answers exists', async () => {
      assert.equal(await remote.write('conformance/immutable', text('first'), { createOnly: true }), 'written');
      assert.equal(await remote.write('conformance/immutable', text('second'), { createOnly: true }), 'exists');
      assert.equal((await bytesOf(await remote.read('conformance/immutable')))?.toString(), 'first');
    });

    it('replaces an object on a plain write', async () => {
      await remote.write('conformance/mutable', text('old'));
      await remote.write('conformance/mutable', text('new'));
      assert.equal((await bytesOf(await remote.read('conformance/mutable')))?.toString(), 'new');
    });

    it('leaves nothing at the key when the body fails', async () => {
      await assert.rejects(remote.write('conformance/partial', partialBody(256 * 1024, 'fail'), { size: 1024 * 1024 }));
      await assert.rejects(remote.write('conformance/partial-co', partialBody(256 * 1024, 'fail'), { createOnly: true }));
      assert.equal(await remote.stat('conformance/partial'), undefined);
      assert.equal(await remote.stat('conformance/partial-co'), undefined);
      if (remote.capabilities.list) {
        const keys = await collect(remote.list('conformance/partial'));
        assert.deepEqual(keys, [], 'no partial object may be visible');
      }
    });

    it('stops a write its signal aborts, and leaves nothing at the key', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      let deadline: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        remote.write('conformance/aborted', partialBody(64 * 1024, 'stall'), { signal: controller.signal }).then(
          () => 'written',
          () => 'rejected',
        ),
        new Promise((resolve) => {
          deadline = setTimeout(resolve, 10_000, 'still writing');
        }),
      ]);
      clearTimeout(deadline); // or the file's run waits out the 10 s
      assert.equal(outcome, 'rejected');
      assert.equal(await remote.stat('conformance/aborted'), undefined);
    });

    it('keeps the old object when a replacing write fails', async () => {
      await remote.write('conformance/keep', text('good'));
      await assert.rejects(remote.write('conformance/keep', partialBody(64 * 1024, 'fail')));
      assert.equal((await bytesOf(await remote.read('conformance/keep')))?.toString(), 'good');
    });

    it('lets exactly one of two racing createOnly writers win', async () => {
      const results = await Promise.all([
        remote.write('conformance/race', text('a'), { createOnly: true }),
        remote.write('conformance/race', text('b'), { createOnly: true }),
      ]);
      if (remote.capabilities.createOnly) assert.deepEqual(results.sort(), ['exists', 'written']);
      assert.match((await bytesOf(await remote.read('conformance/race')))?.toString() ?? '', /^[ab]$/);
    });

    it('lists keys under a prefix, recursively', async (t) => {
      if (!remote.capabilities.list) {
        t.skip('this remote declares list: false');
        return;
      }
      await remote.write('conformance/list/repositories/team/app/1.0', text('x'));
      await remote.write('conformance/list/repositories/team/app/latest', text('x'));
      await remote.write('conformance/list/repositories/solo/v2', text('x'));
      await remote.write('conformance/listing-sibling', text('x'));
      assert.deepEqual(await collect(remote.list('conformance/list/')), [
        'conformance/list/repositories/solo/v2',
        'conformance/list/repositories/team/app/1.0',
        'conformance/list/repositories/team/app/latest',
      ]);
      assert.deepEqual(await collect(remote.list('conformance/list/repositories/team/')), [
        'conformance/list/repositories/team/app/1.0',
        'conformance/list/repositories/team/app/latest',
      ]);
      assert.deepEqual(await collect(remote.list('conformance/nothing-here/')), []);
    });

    it('deletes keys, and a missing key is not an error', async () => {
      await remote.write('conformance/del/a', text('a'));
      await remote.write('conformance/del/b', text('b'));
      await remote.delete(['conformance/del/a', 'conformance/del/b', 'conformance/del/never-was']);
      assert.equal(await remote.stat('conformance/del/a'), undefined);
      assert.equal(await remote.stat('conformance/del/b'), undefined);
    });

    it('moves a key into place, keeping an existing target with createOnly', async (t) => {
      if (!remote.move) {
        t.skip('this remote has no move; core falls back to read and write');
        return;
      }
      await remote.write('conformance/tmp/one', text('moved'));
      assert.equal(await remote.move('conformance/tmp/one', 'conformance/final/one', { createOnly: true }), 'written');
      assert.equal(await remote.stat('conformance/tmp/one'), undefined);
      assert.equal((await bytesOf(await remote.read('conformance/final/one')))?.toString(), 'moved');
      await remote.write('conformance/tmp/two', text('other'));
      assert.equal(await remote.move('conformance/tmp/two', 'conformance/final/one', { createOnly: true }), 'exists');
      assert.equal(await remote.stat('conformance/tmp/two'), undefined);
      assert.equal((await bytesOf(await remote.read('conformance/final/one')))?.toString(), 'moved');
    });

    it('rejects keys that could escape the remote', async () => {
      for (const key of ['../escape', 'a/../../b', '/abs', 'a//b']) {
        await assert.rejects(remote.stat(key), (e: unknown) => e instanceof InvalidReferenceError);
      }
    });
  });
}
