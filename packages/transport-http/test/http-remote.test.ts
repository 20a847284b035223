import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { remoteConformance } from '@dogestry/core/conformance';
import { createRemote } from '@dogestry/transport-http';
import { type Apache, startApache } from '../../../test/support/apache.js';
import { type Nginx, startNginx } from '../../../test/support/nginx.js';

let nginx: Nginx;
let apache: Apache;
let run = 0;
before(async () => {
  [nginx, apache] = await Promise.all([startNginx(), startApache()]);
});
after(async () => {
  await nginx?.stop();
  await apache?.stop();
});

// Apache answers 409 to a PUT or MKCOL under a missing collection (even the remote's own): each parent is made first.
remoteConformance('http: Apache mod_dav (MKCOL every parent, MOVE, PROPFIND listing)', async () => ({
  remote: await createRemote(`${apache.url}/dav/nested/conformance-${++run}/`),
}));

/** Apache's error log from `from` (bytes) on. */
const apacheErrors = async (from = 0): Promise<string> =>
  (await readFile(join(apache.root, 'logs', 'error.log'))).subarray(from).toString();

// Apache answers 403 ("File exists") to all but one of concurrent MKCOLs of one path: a push
// of several layers makes blobs/sha256/ from each layer's write at once.
it('Apache: writes racing into one new directory all land, from one remote (one MKCOL each) and from four (pushers at once)', async () => {
  const writeAll = async (remotes: Awaited<ReturnType<typeof createRemote>>[], count: number) => {
    const written = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        (remotes[i % remotes.length] as (typeof remotes)[number]).write(`blobs/sha256/${i}`, Readable.from([Buffer.from(`blob ${i}`)]), {
          createOnly: true,
        }),
      ),
    );
    assert.deepEqual(written, Array(count).fill('written'));
    for (let i = 0; i < count; i++) {
      const body = await (remotes[0] as (typeof remotes)[number]).read(`blobs/sha256/${i}`);
      const chunks: Buffer[] = [];
      for await (const chunk of body ?? []) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), `blob ${i}`);
    }
  };
  for (let round = 0; round < 3; round++) {
    const logged = Buffer.byteLength(await apacheErrors());
    await writeAll([await createRemote(`${apache.url}/dav/racing-${++run}/`)], 8);
    assert.doesNotMatch(await apacheErrors(logged), /Unable to create collection/, 'one remote asks for each collection once');
    const base = `${apache.url}/dav/racing-${++run}/`;
    await writeAll(await Promise.all(Array.from({ length: 4 }, () => createRemote(base))), 8);
  }
});

it('Apache: MOVE works (an absolute Destination, which mod_dav requires): layers move into place, not through this process', async () => {
  const remote = await createRemote(`${apache.url}/dav/moving-${++run}/`);
  assert.equal(await remote.write('blobs/one', Readable.from([Buffer.from('one')]), { createOnly: true }), 'written');
  assert.equal(typeof remote.move, 'function', 'the MOVE probe succeeded');
  assert.equal(await remote.move?.('blobs/one', 'blobs/two', { createOnly: true }), 'written');
  assert.equal(await remote.stat('blobs/one'), undefined);
  assert.equal(await remote.write('blobs/two', Readable.from([Buffer.from('two')]), { createOnly: true }), 'exists');
  await remote.close?.();
});

// A write that fails before it reads its body (here: one to a read-only path) destroys it unread.
it('closes promptly after a read whose body was destroyed unread', { timeout: 15_000 }, async () => {
  const remote = await createRemote(`${nginx.url}/davmove/unread-${++run}/`);
  await remote.write('blob', Readable.from([Buffer.alloc(4 * 1024 * 1024, 1)]));
  const body = await remote.read('blob');
  assert.ok(body);
  (body as Readable).destroy();
  const closed = remote.close?.().then(() => 'closed');
  assert.equal(await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000, 'still open'))]), 'closed');
});

remoteConformance('http: nginx dav (PUT DELETE MKCOL, JSON autoindex)', async () => ({
  remote: await createRemote(`${nginx.url}/dav/conformance-${++run}/`),
}));

remoteConformance('http: nginx dav with MOVE', async () => ({
  remote: await createRemote(`${nginx.url}/davmove/conformance-${++run}/`),
}));

remoteConformance(
  'http: nginx static (read-only, no listing)',
  async () => {
    const dir = `static-${++run}`;
    return {
      remote: await createRemote(`${nginx.url}/static/${dir}/`),
      seed: async (key, bytes) => {
        const path = join(nginx.root, 'static', dir, ...key.split('/'));
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bytes);
      },
    };
  },
  { readOnly: true },
);
