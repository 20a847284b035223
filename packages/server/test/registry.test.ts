/**
 * The registry face with plain HTTP requests, over an in-memory remote filled by `push` from
 * the fake engine: status codes, headers, the spec's error bodies, HEAD, Range, pagination,
 * auth. The real clients (docker, podman, skopeo, ctr) are in test/e2e/registry.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { push } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { type RunningRegistry, startRegistry } from '@dogestry/server';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from '../../core/test/support/fake-engine.js';

const run = promisify(execFile);
const KiB = 1024;
let work: string;
let image: SyntheticImage;
let remote: MemoryRemote;
let registry: RunningRegistry;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-registry-'));
  image = await buildImageTar(join(work, 'img'), 'team/app:1', [
    { seed: 'reg-text', size: 600 * KiB, kind: 'text' },
    { seed: 'reg-random', size: 300 * KiB },
  ]);
  remote = new MemoryRemote();
  const engine = new FakeEngine();
  engine.add('team/app:1', image);
  await push({ remote, engine, image: 'team/app:1' });
  for (const tag of ['2', '3', 'latest']) await push({ remote, engine, image: 'team/app:1', as: `team/app:${tag}` });
  await push({ remote, engine, image: 'team/app:1', as: 'other:1' });
  registry = await startRegistry({ remote, listen: '127.0.0.1:0' });
});
after(async () => {
  await registry?.close();
  await rm(work, { recursive: true, force: true });
});

const get = (path: string, init: RequestInit = {}) => fetch(`${registry.url}${path}`, init);
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { errors: { code: string }[] };
  return body.errors[0]?.code ?? '';
}

describe('registry face: reads', () => {
  it('/v2/ answers 200 with the API version header', async () => {
    const response = await get('/v2/');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('manifests by tag and by digest, GET and HEAD, with their digest and media type', async () => {
    const byTag = await get('/v2/team/app/manifests/1');
    assert.equal(byTag.status, 200);
    const bytes = new Uint8Array(await byTag.arrayBuffer());
    const digest = byTag.headers.get('docker-content-digest');
    assert.equal(digest, sha(bytes));
    assert.equal(byTag.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    const byDigest = await get(`/v2/team/app/manifests/${digest}`);
    assert.equal(byDigest.status, 200);
    assert.deepEqual(new Uint8Array(await byDigest.arrayBuffer()), bytes);
    const head = await get('/v2/team/app/manifests/1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
  });

  it('layers are served as their descriptors say: uncompressed, hashing to their digest; the config as stored', async () => {
    const manifest = (await (await get('/v2/team/app/manifests/1')).json()) as {
      config: { digest: string; size: number };
      layers: { digest: string; size: number }[];
    };
    for (const descriptor of [manifest.config, ...manifest.layers]) {
      const response = await get(`/v2/team/app/blobs/${descriptor.digest}`);
      assert.equal(response.status, 200);
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.equal(bytes.length, descriptor.size);
      assert.equal(sha(bytes), descriptor.digest);
      assert.equal(response.headers.get('docker-content-digest'), descriptor.digest);
    }
    const layer = manifest.layers[0] as { digest: string; size: number };
    const head = await get(`/v2/team/app/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(layer.size));
    const whole = new Uint8Array(await (await get(`/v2/team/app/blobs/${layer.digest}`)).arrayBuffer());
    const ranged = await get(`/v2/team/app/blobs/${layer.digest}`, { headers: { range: 'bytes=1000-4999' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-4999/${layer.size}`);
    assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), whole.subarray(1000, 5000));
    const outside = await get(`/v2/team/app/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.size}-` } });
    assert.equal(outside.status, 416);
    await outside.body?.cancel();
  });

  it('a blob is served only in a repository whose images use it', async () => {
    const manifest = (await (await get('/v2/team/app/manifests/1')).json()) as { layers: { digest: string }[] };
    const digest = manifest.layers[0]?.digest as string;
    assert.equal((await get(`/v2/other/blobs/${digest}`)).status, 200, 'other:1 is the same image');
    const unknown = await get(`/v2/nothing/blobs/${digest}`);
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'BLOB_UNKNOWN');
  });

  it("the spec's errors: unknown manifest, unknown name, invalid name, invalid digest", async () => {
    const cases: [string, number, string][] = [
      ['/v2/team/app/manifests/nope', 404, 'MANIFEST_UNKNOWN'],
      ['/v2/team/app/manifests/.INVALID_MANIFEST_NAME', 404, 'MANIFEST_UNKNOWN'],
      ['/v2/nobody/manifests/1', 404, 'NAME_UNKNOWN'],
      ['/v2/nobody/tags/list', 404, 'NAME_UNKNOWN'],
      ['/v2/Team/App/manifests/1', 400, 'NAME_INVALID'],
      ['/v2/team/app/blobs/sha256:xyz', 400, 'DIGEST_INVALID'],
      [`/v2/team/app/manifests/sha512:${'a'.repeat(128)}`, 400, 'DIGEST_INVALID'],
      [`/v2/team/app/blobs/sha256:${'0'.repeat(64)}`, 404, 'BLOB_UNKNOWN'],
    ];
    for (const [path, status, code] of cases) {
      const response = await get(path);
      assert.equal(response.status, status, path);
      assert.equal(await errorCode(response), code, path);
    }
  });

  it('tags and the catalog paginate with n and last, and say where the next page starts', async () => {
    const all = (await (await get('/v2/team/app/tags/list')).json()) as { name: string; tags: string[] };
    assert.deepEqual(all, { name: 'team/app', tags: ['1', '2', '3', 'latest'] });
    const first = await get('/v2/team/app/tags/list?n=2');
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['1', '2']);
    assert.equal(first.headers.get('link'), '</v2/team/app/tags/list?n=2&last=2>; rel="next"');
    const second = (await (await get('/v2/team/app/tags/list?n=2&last=2')).json()) as { tags: string[] };
    assert.deepEqual(second.tags, ['3', 'latest']);
    assert.deepEqual(((await (await get('/v2/_catalog')).json()) as { repositories: string[] }).repositories, ['other', 'team/app']);
    assert.deepEqual(((await (await get('/v2/_catalog?n=1&last=other')).json()) as { repositories: string[] }).repositories, ['team/app']);
  });

  it('a stored layer that fails its digest ends the answer short: the client never gets a complete wrong blob', async () => {
    const damaged = new MemoryRemote();
    const engine = new FakeEngine();
    engine.add('team/app:1', image);
    await push({ remote: damaged, engine, image: 'team/app:1', compression: 'none' });
    const key = `blobs/sha256/${image.diffIds[1]?.slice(7)}`;
    const stored = damaged.objects.get(key);
    assert.ok(stored);
    const bytes = Buffer.from(stored.bytes);
    bytes[bytes.length - 2000] = (bytes[bytes.length - 2000] as number) ^ 1;
    damaged.objects.set(key, { ...stored, bytes });
    const served = await startRegistry({ remote: damaged, listen: '127.0.0.1:0' });
    try {
      const response = await fetch(`${served.url}/v2/team/app/blobs/${image.diffIds[1]}`);
      assert.equal(response.status, 200, 'the headers went out before the blob was read');
      await assert.rejects(response.arrayBuffer(), 'the body fails instead of completing');
    } finally {
      await served.close();
    }
  });

  it('a manifest asked for by tag is read from the remote once, not again to be served', async () => {
    const reads: string[] = [];
    const counting = Object.create(remote) as MemoryRemote;
    counting.read = (key, opts) => {
      reads.push(key);
      return remote.read(key, opts);
    };
    const served = await startRegistry({ remote: counting, listen: '127.0.0.1:0' });
    try {
      const response = await fetch(`${served.url}/v2/other/manifests/1`);
      const digest = response.headers.get('docker-content-digest') as string;
      await response.arrayBuffer();
      assert.deepEqual(
        reads.filter((k) => k === `blobs/sha256/${digest.slice(7)}`),
        [`blobs/sha256/${digest.slice(7)}`],
      );
    } finally {
      await served.close();
    }
  });
});

describe('registry face: who may read', () => {
  it('beyond loopback it will not start without users or --anonymous-read; passwords need TLS there', async () => {
    await assert.rejects(startRegistry({ remote, listen: '0.0.0.0:0' }), { code: 'USAGE', message: /--htpasswd|--anonymous-read/ });
    const file = join(work, 'htpasswd-tls');
    await run('htpasswd', ['-B', '-b', '-c', file, 'deploy', 'pw']);
    await assert.rejects(startRegistry({ remote, listen: '0.0.0.0:0', htpasswd: file }), { code: 'USAGE', message: /tls-cert/ });
  });

  it('with htpasswd users: no credentials or a wrong password is 401 with a Basic challenge; the right one reads', async () => {
    const file = join(work, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', file, 'deploy', 's3cret pass']);
    const lines: string[] = [];
    const guarded = await startRegistry({ remote, listen: '127.0.0.1:0', htpasswd: file, log: (line) => lines.push(line) });
    try {
      const basic = (user: string, password: string) => ({
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      });
      const none = await fetch(`${guarded.url}/v2/`);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Basic realm="dogestry"');
      assert.equal(await errorCode(none), 'UNAUTHORIZED');
      const wrong = await fetch(`${guarded.url}/v2/team/app/manifests/1`, { headers: basic('deploy', 'wrong') });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const nobody = await fetch(`${guarded.url}/v2/`, { headers: basic('mallory', 's3cret pass') });
      assert.equal(nobody.status, 401);
      await nobody.body?.cancel();
      for (let i = 0; i < 3; i++) {
        const right = await fetch(`${guarded.url}/v2/team/app/manifests/1`, { headers: basic('deploy', 's3cret pass') });
        assert.equal(right.status, 200);
        await right.body?.cancel();
      }
      assert.ok(
        lines.some((l) => l.endsWith(' deploy')),
        'the log names the user',
      );
      assert.ok(!lines.join('\n').includes('s3cret'), 'and never a password');
      await writeFile(file, '');
      const emptied = await fetch(`${guarded.url}/v2/`, { headers: basic('deploy', 's3cret pass') });
      assert.equal(emptied.status, 401, 'a user removed from the file is refused at once');
      await emptied.body?.cancel();
    } finally {
      await guarded.close();
    }
  });
});
