import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { parseSize, pruneCache } from '@dogestry/core';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dogestry-prune-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);

async function file(path: string, bytes: number, used: Date): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes));
  await utimes(path, used, used);
}

it('cache prune evicts the least recently used blobs to fit, and clears dead downloads and spools only', async () => {
  const cache = join(dir, 'cache');
  const spools = join(dir, 'spool');
  const blobs = join(cache, 'blobs', 'sha256');
  await file(join(blobs, 'old'), 3000, hoursAgo(30));
  await file(join(blobs, 'mid'), 2000, hoursAgo(20));
  await file(join(blobs, 'new'), 1000, hoursAgo(1));
  await file(join(cache, 'tmp', 'dead-download'), 500, hoursAgo(2));
  await file(join(cache, 'tmp', 'live-download'), 500, new Date());
  await file(join(spools, 'dogestry-spool-dead', 'layer'), 700, hoursAgo(3));
  await utimes(join(spools, 'dogestry-spool-dead'), hoursAgo(3), hoursAgo(3));
  await file(join(spools, 'dogestry-spool-live', 'layer'), 700, new Date());
  await file(join(spools, 'not-ours', 'x'), 1, hoursAgo(9));

  const report = await pruneCache({ cacheDir: cache, spoolDir: spools, maxSize: parseSize('3000') });
  assert.deepEqual((await readdir(blobs)).sort(), ['mid', 'new']);
  assert.deepEqual(report.evicted, { count: 1, bytes: 3000 });
  assert.deepEqual(report.kept, { count: 2, bytes: 3000 });
  assert.deepEqual(await readdir(join(cache, 'tmp')), ['live-download']);
  assert.deepEqual((await readdir(spools)).sort(), ['dogestry-spool-live', 'not-ours']);
  assert.deepEqual(report.spools, { count: 1, bytes: 700 });
});

it('sizes read as people write them', () => {
  assert.equal(parseSize('10G'), 10 * 2 ** 30);
  assert.equal(parseSize('1.5M'), 1.5 * 2 ** 20);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('2GiB'), 2 * 2 ** 30);
  assert.throws(() => parseSize('lots'), { code: 'INVALID_REFERENCE' });
});
