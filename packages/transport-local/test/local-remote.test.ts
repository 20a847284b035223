import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { it } from 'node:test';
import { openRemote } from '@dogestry/core';
import { remoteConformance } from '@dogestry/core/conformance';
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
