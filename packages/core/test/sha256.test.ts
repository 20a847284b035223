import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BufferPool, written } from '../src/buffer-pool.ts';
import { offloadedHash, type StreamHash, streamHash, threadHash } from '../src/sha256.js';
import { nativeHash } from '../src/sha256-native.ts';
import { runChildScript } from './support/child-script.ts';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Feed `data` in chunks of the given sizes (cycled), honouring the hash's backpressure. */
async function feed(hash: StreamHash, data: Buffer, sizes: readonly number[]): Promise<number> {
  let waits = 0;
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length] as number;
    const wait = hash.update(data.subarray(at, at + size));
    at += size;
    if (wait) {
      waits++;
      await wait;
    }
  }
  return waits;
}

describe('stream hash', () => {
  for (const [name, make] of [
    ['on the hashing thread', threadHash],
    ['as chosen for this machine', streamHash],
    ["natively, on libuv's thread pool", () => nativeHash() as StreamHash],
    ["as chosen for a pull's layers", offloadedHash],
  ] as const) {
    it(`${name}: digests equal sha256 for empty, small, odd-sized and batch-crossing input`, {
      skip: make() === null && 'no native build here',
    }, async () => {
      assert.equal(await make().digest(), sha(Buffer.alloc(0)));
      const small = Buffer.from('layer');
      const one = make();
      one.update(small);
      assert.equal(await one.digest(), sha(small));
      // Chunks smaller than, equal to and larger than a 1 MiB batch, at odd offsets.
      const data = randomBytes(7 * MiB + 12345);
      const many = make();
      await feed(many, data, [1, 99_999, MiB, 3 * MiB + 7, 4096]);
      assert.equal(await many.digest(), sha(data));
    });
  }

  it('keeps concurrent streams apart, and a discarded one disturbs none', async () => {
    const a = randomBytes(3 * MiB + 1);
    const b = randomBytes(2 * MiB + 3);
    const [ha, hb, hc] = [threadHash(), threadHash(), threadHash()];
    for (let at = 0; at < Math.max(a.length, b.length); at += 300_000) {
      if (at < a.length) await ha.update(a.subarray(at, at + 300_000));
      if (at < b.length) await hb.update(b.subarray(at, at + 300_000));
      await hc.update(randomBytes(300_000));
    }
    hc.discard();
    assert.deepEqual(await Promise.all([ha.digest(), hb.digest()]), [sha(a), sha(b)]);
  });

  it('asks its caller to wait once batches pile up, and copies each chunk before it returns', async () => {
    const hash = threadHash();
    const data = randomBytes(32 * MiB);
    let asked = false;
    for (let at = 0; at < data.length; at += MiB) {
      const chunk = Buffer.from(data.subarray(at, at + MiB));
      const wait = hash.update(chunk);
      chunk.fill(0); // the caller may reuse or hand on its chunk at once
      if (wait) {
        asked = true;
        await wait;
      }
    }
    assert.ok(asked, '32 MiB written without waiting never asked to wait');
    assert.equal(await hash.digest(), sha(data));
  });

  describe('lets the process exit when nothing waits on the hashing thread', () => {
    const source = JSON.stringify(new URL('../src/sha256.ts', import.meta.url).href);
    const exits = (script: string) =>
      exec(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `const { threadHash } = await import(${source});\n${script}`],
        {
          timeout: 20_000,
        },
      );

    it('after a digest, with another stream left open', async () => {
      const { stdout } = await exits(`
        const done = threadHash();
        done.update(Buffer.alloc(3 << 20, 1));
        console.log(await done.digest());
        threadHash().update(Buffer.alloc(5 << 20, 2));
      `);
      assert.equal(stdout.trim(), sha(Buffer.alloc(3 << 20, 1)));
    });

    it('when no stream was ever digested (a failed download)', async () => {
      const { stdout } = await exits(`
        const failed = threadHash();
        failed.update(Buffer.alloc(2 << 20, 3));
        failed.discard();
        console.log('gave up');
      `);
      assert.equal(stdout.trim(), 'gave up');
    });
  });
});

const native = nativeHash() !== null;

describe("sha256 on libuv's thread pool (native/sha256-napi.c)", () => {
  it("is what a pull's layers are hashed with on linux-x64, with 2 cores or more", () => {
    assert.equal(native, process.platform === 'linux' && process.arch === 'x64', 'the native build loads where it is committed');
    assert.equal(offloadedHash().constructor.name, native && availableParallelism() > 1 ? 'NativeHash' : streamHash().constructor.name);
  });

  it('keeps concurrent streams apart, and a discarded one disturbs none', { skip: !native && 'no native build here' }, async () => {
    const a = randomBytes(3 * MiB + 1);
    const b = randomBytes(2 * MiB + 3);
    const [ha, hb, hc] = [nativeHash(), nativeHash(), nativeHash()] as StreamHash[];
    for (let at = 0; at < a.length; at += 300_000) {
      ha?.update(a.subarray(at, at + 300_000));
      hb?.update(b.subarray(at, at + 300_000));
      hc?.update(randomBytes(300_000));
      if (at === 1_500_000) hc?.discard();
    }
    assert.deepEqual(await Promise.all([ha?.digest(), hb?.digest()]), [sha(a), sha(b)]);
  });

  it('asks its caller to wait once 4 MiB wait to be hashed', { skip: !native && 'no native build here' }, async () => {
    const hash = nativeHash() as StreamHash;
    const data = randomBytes(32 * MiB);
    const waits: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += MiB) {
      const wait = hash.update(data.subarray(at, at + MiB));
      if (wait) waits.push(wait);
    }
    assert.ok(waits.length > 0, '32 MiB passed at once never asked to wait');
    await Promise.all(waits);
    assert.equal(await hash.digest(), sha(data));
  });

  it('holds a pool buffer until it has read it: one written and lent again at once never changes what it hashes', {
    skip: !native && 'no native build here',
  }, async () => {
    // As a pull's decoded blocks go: hashed, written to the engine's socket, given back, reused.
    const pool = new BufferPool(MiB);
    const hash = nativeHash() as StreamHash;
    const expected = createHash('sha256');
    for (let i = 0; i < 64; i++) {
      const chunk = pool.take(MiB) as Buffer;
      chunk.fill(i);
      expected.update(chunk);
      const wait = hash.update(chunk);
      written(chunk);
      if (wait) await wait;
    }
    assert.equal(await hash.digest(), expected.digest('hex'));
    assert.ok(pool.made > 1, 'a buffer still being hashed was lent again');
    assert.equal(pool.available, pool.made, 'every buffer is back once hashed');
  });

  it('an installation without the native build hashes as before', async () => {
    const input = randomBytes(3 * MiB + 5);
    const answer = await runChildScript<{ kind: string; digest: string }>(
      (src) => `
        import { readFileSync } from 'node:fs';
        import { offloadedHash } from '${src}/sha256.ts';
        const hash = offloadedHash();
        await hash.update(readFileSync(process.argv[1]));
        console.log(JSON.stringify({ kind: hash.constructor.name, digest: await hash.digest() }));
        process.exit(0);`,
      input,
      { name: 'dogestry-no-native-sha-', copy: { folders: ['src', 'wasm', 'native'], omit: ['native/sha256.linux-x64.node'] } },
    );
    assert.notEqual(answer.kind, 'NativeHash');
    assert.equal(answer.digest, sha(input));
  });
});
