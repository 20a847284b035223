import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { remoteConformance } from '@dogestry/core/conformance';
import { openRemote } from '@dogestry/core/internal';
import { createRemote } from '@dogestry/transport-local';

remoteConformance('local directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-local-'));
  return { remote: createRemote(`file://${dir}`), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

it('core opens plain paths through the local transport, lazily', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-local-'));
  try {
    const remote = await openRemote(dir);
    assert.equal(remote.url, `file://${dir}`);
    await remote.write('a/b', Readable.from([Buffer.from('x')]));
    assert.deepEqual(await readdir(join(dir, 'a')), ['b']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('leaves no temporary file behind after a failed write', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-local-'));
  try {
    const remote = createRemote(`file://${dir}`);
    const body = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    await assert.rejects(remote.write('x/y', body), /boom/);
    assert.deepEqual(await readdir(join(dir, '.dogestry-tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('symlinks inside the remote are never followed', () => {
  let dir: string;
  let outside: string;
  let remote: ReturnType<typeof createRemote>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dogestry-local-'));
    outside = await mkdtemp(join(tmpdir(), 'dogestry-outside-'));
    remote = createRemote(`file://${join(dir, 'remote')}`);
    await remote.write('dogestry.json', Readable.from([Buffer.from('{"format":2}\n')]));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  const unsafe = { code: 'UNSAFE_REMOTE', exitCode: 4 };

  it('a symlinked directory: writes, reads, stats, deletes and listing refuse it; nothing lands outside', async () => {
    await mkdir(join(dir, 'remote', 'repositories'));
    await symlink(outside, join(dir, 'remote', 'repositories', 'app'));
    await writeFile(join(outside, 'victim'), 'precious');
    await assert.rejects(remote.write('repositories/app/victim', Readable.from([Buffer.from('sha256:x\n')])), unsafe);
    await assert.rejects(remote.write('repositories/app/new', Readable.from([Buffer.from('x')])), unsafe);
    await assert.rejects(remote.read('repositories/app/victim'), unsafe);
    await assert.rejects(remote.stat('repositories/app/victim'), unsafe);
    await assert.rejects(remote.delete(['repositories/app/victim']), unsafe);
    assert.deepEqual(await readdir(outside), ['victim']);
    assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'precious');
    const listed: string[] = [];
    for await (const key of remote.list('repositories/')) listed.push(key);
    assert.deepEqual(listed, []);
  });

  it('a symlinked blobs/ and temporary directory are refused', async () => {
    await symlink(outside, join(dir, 'remote', 'blobs'));
    await assert.rejects(remote.write(`blobs/sha256/${'a'.repeat(64)}`, Readable.from([Buffer.from('x')]), { createOnly: true }), unsafe);
    await rm(join(dir, 'remote', '.dogestry-tmp'), { recursive: true });
    await symlink(outside, join(dir, 'remote', '.dogestry-tmp'));
    await assert.rejects(remote.write('a', Readable.from([Buffer.from('x')])), unsafe);
    assert.deepEqual(await readdir(outside), []);
  });

  it('a blob that is a symlink to a file outside is neither read nor hashed', async () => {
    await writeFile(join(outside, 'shadow'), 'secret');
    await mkdir(join(dir, 'remote', 'blobs', 'sha256'), { recursive: true });
    const key = `blobs/sha256/${'b'.repeat(64)}`;
    await symlink(join(outside, 'shadow'), join(dir, 'remote', ...key.split('/')));
    await assert.rejects(remote.read(key), unsafe);
    await assert.rejects(remote.stat(key), unsafe);
    // A create-only write does not take the link for the blob.
    await assert.rejects(remote.write(key, Readable.from([Buffer.from('x')]), { createOnly: true }), unsafe);
    assert.equal(await readFile(join(outside, 'shadow'), 'utf8'), 'secret');
  });

  it('the root itself may be a symlink: that is where the user put it', async () => {
    await symlink(join(dir, 'remote'), join(dir, 'link'));
    const viaLink = createRemote(`file://${join(dir, 'link')}`);
    await viaLink.write('a/b', Readable.from([Buffer.from('ok')]));
    assert.equal(await readFile(join(dir, 'remote', 'a', 'b'), 'utf8'), 'ok');
  });

  it('sweep removes temporary files with no write since the cut-off, and only those', async () => {
    await mkdir(join(dir, 'remote', '.dogestry-tmp'), { recursive: true });
    await writeFile(join(dir, 'remote', '.dogestry-tmp', 'old'), 'dead write');
    await writeFile(join(dir, 'remote', '.dogestry-tmp', 'new'), 'live write');
    const past = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'remote', '.dogestry-tmp', 'old'), past, past);
    const swept = await remote.sweep?.(new Date(Date.now() - 60_000));
    assert.deepEqual(swept, { count: 1, bytes: 10 });
    assert.deepEqual(await readdir(join(dir, 'remote', '.dogestry-tmp')), ['new']);
  });
});
