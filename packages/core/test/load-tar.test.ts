/**
 * Streaming pulls: a cache fill that readers follow while it downloads, and the load tar
 * built from such readers. Whatever streams early, a layer's last byte waits for its
 * verification, manifest.json comes last, and a failure cuts the tar.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { settledWithin } from '../../../test/support/wait.js';
import { BlobCache, type CacheFill } from '../src/cache.js';
import { type BlobReader, buildLoadTar } from '../src/docker/load-tar.js';
import { tarHeader } from '../src/docker/tar-writer.js';
import { DigestMismatchError } from '../src/errors.js';
import { MemoryRemote } from '../src/memory-remote.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-load-tar-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Uncompressed bytes (no magic at the front) and their digest. */
function blob(size: number): { bytes: Buffer; hex: string } {
  const bytes = randomBytes(size);
  bytes.write('data', 0);
  return { bytes, hex: createHash('sha256').update(bytes).digest('hex') };
}

/** A remote whose one blob arrives only as the test writes it. */
function gatedRemote(): { remote: MemoryRemote; gate: PassThrough } {
  const remote = new MemoryRemote();
  const gate = new PassThrough();
  remote.read = async () => gate;
  return { remote, gate };
}

/** Read `reader` from `position` up to `end`. */
async function readUpTo(reader: BlobReader, position: number, end: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  while (position < end) {
    const chunk = await reader.read(position, end - position);
    chunks.push(chunk);
    position += chunk.length;
  }
  return chunks;
}

describe('cache fill', () => {
  it('is read while it downloads, but its last byte only once verified', async () => {
    const cache = new BlobCache(join(work, 'follow'));
    const { bytes, hex } = blob(3 * MiB + 17);
    const { remote, gate } = gatedRemote();
    const fill = cache.fill(hex, bytes.length);
    const fetched = fill.fetch(remote);
    const reader = fill.reader();

    const first = reader.read(0, MiB);
    let arrivedWhenRead = -1;
    let arrived = 0;
    void first.then(() => (arrivedWhenRead = arrived));
    for (let at = 0; at < MiB; at += 64 * 1024) {
      gate.write(bytes.subarray(at, at + 64 * 1024));
      arrived = at + 64 * 1024;
      await delay(5);
    }
    await first;
    assert.equal(arrivedWhenRead, MiB, 'the first read waits for a whole chunk of what it asked, not each small write');
    gate.write(bytes.subarray(MiB));
    const middle = await readUpTo(reader, (await first).length, bytes.length - 1);
    const last = reader.read(bytes.length - 1, 1);
    assert.equal(await settledWithin(last, 200), false, 'every byte is on disk, yet the last one waits for verification');
    gate.end();
    const got = Buffer.concat([await first, ...middle, await last]);
    assert.ok(got.equals(bytes));
    assert.deepEqual(await fetched, { downloaded: true, bytes: bytes.length });
    await reader.close();
    assert.ok((await readFile(cache.path(hex))).equals(bytes));
  });

  it('fails its readers when the bytes do not hash to the digest, and caches nothing', async () => {
    const cache = new BlobCache(join(work, 'corrupt'));
    const { bytes, hex } = blob(2 * MiB);
    const { remote, gate } = gatedRemote();
    const fill = cache.fill(hex, bytes.length);
    const fetched = fill.fetch(remote);
    fetched.catch(() => {});
    const reader = fill.reader();
    const corrupt = Buffer.from(bytes);
    corrupt[MiB] = (corrupt[MiB] as number) ^ 1;
    gate.end(corrupt);
    const streamed = await readUpTo(reader, 0, bytes.length - 1);
    assert.equal(Buffer.concat(streamed).length, bytes.length - 1, 'all but the last byte streamed before the hash was known');
    await assert.rejects(reader.read(bytes.length - 1, 1), DigestMismatchError);
    await assert.rejects(fetched, DigestMismatchError);
    await reader.close();
    await assert.rejects(readFile(cache.path(hex)), { code: 'ENOENT' });
    assert.deepEqual(await readdir(join(cache.dir, 'tmp')), [], 'no temporary file left');
  });

  it('stops a download that runs past the recorded size without waiting for its end', { timeout: 10_000 }, async () => {
    const cache = new BlobCache(join(work, 'long'));
    const { bytes, hex } = blob(MiB);
    const { remote, gate } = gatedRemote();
    const fetched = cache.fill(hex, bytes.length - 1).fetch(remote);
    gate.write(bytes); // one byte more than recorded; the stream is never ended
    await assert.rejects(fetched, (error: Error) => error instanceof DigestMismatchError && /more than/.test(error.message));
  });

  /** Bytes of the fill in the cache so far: its temporary file, or the blob once it is there. */
  const onDisk = async (cache: BlobCache, hex: string): Promise<number> => {
    const names = await readdir(join(cache.dir, 'tmp'));
    return (await stat(names.length === 0 ? cache.path(hex) : join(cache.dir, 'tmp', names[0] as string))).size;
  };
  /**
   * A fill of `size` random bytes whose remote has them all at once (in 64 KiB pieces), with
   * `readers` opened before its download starts, as a load opens them.
   */
  function pouredFill(name: string, size: number, readers: number) {
    const cache = new BlobCache(join(work, name));
    const { bytes, hex } = blob(size);
    const { remote, gate } = gatedRemote();
    const fill = cache.fill(hex, bytes.length);
    const opened = Array.from({ length: readers }, () => fill.reader());
    const fetched = fill.fetch(remote);
    for (let at = 0; at < bytes.length; at += 64 * 1024) gate.write(bytes.subarray(at, at + 64 * 1024));
    gate.end();
    const cached = async () => (await readFile(cache.path(hex))).equals(bytes);
    return { cache, bytes, hex, readers: opened, fetched, cached };
  }

  it('holds the download back while its reader is far behind, and lets it go as the reader reads', { timeout: 20_000 }, async () => {
    const { cache, bytes, hex, readers, fetched, cached } = pouredFill('paced', 24 * MiB + 5, 1);
    const reader = readers[0] as BlobReader;
    await delay(300);
    const early = await onDisk(cache, hex);
    assert.ok(early < 8 * MiB, `the download waits for its reader at 0 (${early} bytes in the cache file, of ${bytes.length} available)`);
    const got = await readUpTo(reader, 0, bytes.length);
    assert.ok(Buffer.concat(got).equals(bytes));
    assert.deepEqual(await fetched, { downloaded: true, bytes: bytes.length });
    await reader.close();
    assert.ok(await cached());
  });

  it('goes on without a reader that closed early', { timeout: 20_000 }, async () => {
    const { bytes, readers, fetched, cached } = pouredFill('released', 24 * MiB, 1);
    const quitter = readers[0] as BlobReader;
    const got = await readUpTo(quitter, 0, MiB);
    assert.ok(Buffer.concat(got).equals(bytes.subarray(0, MiB)));
    await quitter.close(); // its load was cut
    assert.equal(await settledWithin(fetched, 5000), true, 'the download finished with no reader left');
    assert.ok(await cached());
  });

  it('is not held back by a reader that has not started, while another reads', { timeout: 20_000 }, async () => {
    const { bytes, readers, fetched } = pouredFill('furthest', 24 * MiB, 2);
    const [idle, reader] = readers as [BlobReader, BlobReader]; // idle: an engine that has not started reading yet
    const reading = readUpTo(reader, 0, bytes.length);
    assert.equal(await settledWithin(reading, 5000), true, 'one reader read the whole blob while the other waited');
    assert.ok(Buffer.concat(await reading).equals(bytes));
    assert.deepEqual(await fetched, { downloaded: true, bytes: bytes.length });
    assert.ok(Buffer.concat(await readUpTo(idle, 0, bytes.length)).equals(bytes), 'the later reader reads it from the file');
    await Promise.all([idle.close(), reader.close()]);
  });

  it('serves a blob already cached without reading the remote', async () => {
    const cache = new BlobCache(join(work, 'cached'));
    const { bytes, hex } = blob(MiB + 3);
    const first = gatedRemote();
    first.gate.end(bytes);
    await cache.fill(hex, bytes.length).fetch(first.remote);
    const remote = new MemoryRemote();
    remote.read = async () => assert.fail('a cached blob is not downloaded');
    const fill: CacheFill = cache.fill(hex, bytes.length);
    const reader = fill.reader();
    const reading = readUpTo(reader, 0, bytes.length);
    assert.deepEqual(await fill.fetch(remote), { downloaded: false, bytes: 0 });
    assert.ok(Buffer.concat(await reading).equals(bytes));
    await reader.close();
  });
});

describe('load tar', () => {
  const fromBytes =
    (bytes: Buffer): (() => BlobReader) =>
    () => ({
      read: async (position, length) => bytes.subarray(position, position + Math.min(length, 100_000)),
      close: async () => {},
    });

  it('holds the config, each layer given bytes once, and manifest.json last, as GNU tar reads it', async () => {
    const config = Buffer.from('{"rootfs":{}}');
    const layers = [blob(10), blob(MiB + 1), blob(513)];
    const entries = [
      { diffHex: layers[0]?.hex as string, size: 10 }, // the engine has it: listed, not sent
      { diffHex: layers[1]?.hex as string, size: MiB + 1, open: fromBytes(layers[1]?.bytes as Buffer) },
      { diffHex: layers[2]?.hex as string, size: 513, open: fromBytes(layers[2]?.bytes as Buffer) },
      { diffHex: layers[1]?.hex as string, size: MiB + 1, open: fromBytes(layers[1]?.bytes as Buffer) }, // repeated in the chain
    ];
    const dir = join(work, 'tar');
    await pipeline(buildLoadTar('c0ffee', config, entries), createWriteStream(`${dir}.tar`));
    const { stdout } = await run('tar', ['-tf', `${dir}.tar`]);
    assert.deepEqual(stdout.trim().split('\n'), [
      'c0ffee.json',
      `${layers[1]?.hex}/`,
      `${layers[1]?.hex}/layer.tar`,
      `${layers[2]?.hex}/`,
      `${layers[2]?.hex}/layer.tar`,
      'manifest.json',
    ]);
    await run('mkdir', ['-p', dir]);
    await run('tar', ['-xf', `${dir}.tar`, '-C', dir]);
    assert.ok((await readFile(join(dir, `${layers[1]?.hex}`, 'layer.tar'))).equals(layers[1]?.bytes as Buffer));
    assert.ok((await readFile(join(dir, `${layers[2]?.hex}`, 'layer.tar'))).equals(layers[2]?.bytes as Buffer));
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), [
      { Config: 'c0ffee.json', RepoTags: null, Layers: entries.map((e) => `${e.diffHex}/layer.tar`) },
    ]);
  });

  it('is cut, manifest unsent, when a layer fails, and closes the layer it was reading', async () => {
    const failure = new DigestMismatchError('blobs/sha256/x', 'sha256:x', 'sha256:y');
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let closed = 0;
    const tar = buildLoadTar('c0ffee', Buffer.from('{}'), [
      {
        diffHex: 'a'.repeat(64),
        size: 3 * MiB,
        open: () => ({
          read: async (position, length) => {
            if (position < MiB) return Buffer.alloc(Math.min(length, MiB - position));
            await released; // fail only once the reader has had the first MiB
            throw failure;
          },
          close: async () => {
            closed++;
          },
        }),
      },
    ]);
    const received: Buffer[] = [];
    let total = 0;
    await assert.rejects(
      pipeline(tar, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          received.push(chunk);
          total += chunk.length;
          if (total >= MiB) release();
        }
      }),
      (error) => error === failure,
    );
    assert.ok(total >= MiB, 'the layer streamed until it failed');
    assert.equal(closed, 1);
    assert.ok(!Buffer.concat(received).includes('manifest.json'), 'no manifest reached the reader');
  });

  it('writes sizes past 8 GiB in base-256, as GNU tar reads them', async () => {
    const size = 9 * 1024 * MiB + 5;
    await writeFile(join(work, 'big.tar'), tarHeader('big/layer.tar', size));
    const listed = await run('tar', ['-tvf', join(work, 'big.tar')]).catch((error: { stdout: string }) => error); // data absent: tar ends in error
    assert.match(listed.stdout, new RegExp(`\\s${size}\\s.*big/layer\\.tar`));
  });
});
