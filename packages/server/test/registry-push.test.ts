/**
 * The registry face's push side with plain HTTP requests over an in-memory remote: uploads
 * (monolithic, chunked, out of order, cancelled, cut off), blobs stored so they read back byte
 * for byte, manifests tagged only when complete, mounts, deletes, referrers, who may write;
 * and what the format makes of it: `dogestry pull` loads a gzip image a client pushed,
 * `verify` checks it, `gc` reclaims what deletes left. Real clients are in test/e2e.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { gc, listImages, pull, push, verify } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { type RunningRegistry, startRegistry } from '@dogestry/server';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from '../../core/test/support/fake-engine.js';

const run = promisify(execFile);
const KiB = 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let work: string;
let image: SyntheticImage;
let remote: MemoryRemote;
let registry: RunningRegistry;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-registry-push-'));
  image = await buildImageTar(join(work, 'img'), 'team/app:1', [
    { seed: 'push-text', size: 500 * KiB, kind: 'text' },
    { seed: 'push-random', size: 200 * KiB },
  ]);
  remote = new MemoryRemote();
  const engine = new FakeEngine();
  engine.add('team/app:1', image);
  await push({ remote, engine, image: 'team/app:1' });
  registry = await startRegistry({ remote, listen: '127.0.0.1:0' });
});
after(async () => {
  await registry?.close();
  await rm(work, { recursive: true, force: true });
});

const at = (path: string, init: RequestInit = {}) => fetch(`${registry.url}${path}`, init);
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const code = async (response: Response) => ((await response.json()) as { errors: { code: string }[] }).errors[0]?.code;

/** A monolithic upload (POST with the digest and body). */
async function upload(name: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const response = await at(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
  assert.equal(response.status, 201, await response.text());
  assert.equal(response.headers.get('location'), `/v2/${name}/blobs/${digest}`);
  return digest;
}

async function putManifest(name: string, reference: string, manifest: object, type = OCI_MANIFEST): Promise<Response> {
  return at(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': type }, body: JSON.stringify(manifest) });
}

const manifestOf = (config: { digest: string; size: number; mediaType?: string }, layers: { digest: string; size: number }[]) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
  layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
});

describe('registry face: uploads', () => {
  it('a blob that begins with a magic number (gzip) is stored wrapped and reads back byte for byte', async () => {
    const gz = gzipSync(Buffer.from('not a tar, but gzip all the same\n'.repeat(100)));
    const digest = await upload('up/magic', gz);
    const raw = remote.objects.get(`blobs/sha256/${digest.slice(7)}`)?.bytes as Buffer;
    assert.equal(raw.readUInt32LE(0), 0x184d2204, 'an LZ4 frame of uncompressed blocks around it');
    const back = await at(`/v2/up/magic/blobs/${digest}`);
    assert.equal(back.status, 200);
    assert.deepEqual(Buffer.from(await back.arrayBuffer()), gz);
    const head = await at(`/v2/up/magic/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(gz.length));
    assert.equal((await at(`/v2/up/other/blobs/${digest}`)).status, 404, 'a blob is in the repository it was uploaded to');
  });

  it('chunked: PATCHes that continue the bytes so far, a 416 for one that does not, GET for the status, PUT with the digest', async () => {
    const bytes = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const started = await at('/v2/up/chunked/blobs/uploads/', { method: 'POST' });
    assert.equal(started.status, 202);
    const location = started.headers.get('location') as string;
    assert.match(location, /^\/v2\/up\/chunked\/blobs\/uploads\/[0-9a-f-]{36}$/);
    const patch = (from: number, to: number) =>
      at(location, { method: 'PATCH', headers: { 'content-range': `${from}-${to - 1}` }, body: bytes.subarray(from, to) });
    assert.equal((await patch(0, 10)).status, 202);
    const again = await patch(0, 10);
    assert.equal(again.status, 416, 'the same chunk twice does not continue the upload');
    assert.equal(again.headers.get('range'), '0-9');
    assert.equal((await patch(20, 36)).status, 416, 'nor does a gap');
    const status = await at(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-9');
    assert.equal((await patch(10, 20)).status, 202);
    const done = await at(`${location}?digest=${sha(bytes)}`, { method: 'PUT', body: bytes.subarray(20) });
    assert.equal(done.status, 201);
    assert.deepEqual(Buffer.from(await (await at(`/v2/up/chunked/blobs/${sha(bytes)}`)).arrayBuffer()), bytes);
    assert.equal((await at(location)).status, 404, 'a completed upload is over');
    assert.deepEqual(
      [...remote.objects.keys()].filter((k) => k.startsWith('tmp/')),
      [],
      'its parts are gone',
    );
  });

  it('a digest that does not match refuses the blob (DIGEST_INVALID) and keeps nothing', async () => {
    const started = await at('/v2/up/wrong/blobs/uploads/', { method: 'POST' });
    const wrong = sha(Buffer.from('something else'));
    const done = await at(`${started.headers.get('location')}?digest=${wrong}`, { method: 'PUT', body: Buffer.from('these bytes') });
    assert.equal(done.status, 400);
    assert.equal(await code(done), 'DIGEST_INVALID');
    assert.equal(remote.objects.has(`blobs/sha256/${wrong.slice(7)}`), false);
    assert.equal(remote.objects.has(`blobs/sha256/${sha(Buffer.from('these bytes')).slice(7)}`), false);
  });

  it('DELETE cancels an upload; an unknown one is BLOB_UPLOAD_UNKNOWN', async () => {
    const started = await at('/v2/up/cancel/blobs/uploads/', { method: 'POST' });
    const location = started.headers.get('location') as string;
    await at(location, { method: 'PATCH', body: Buffer.from('partial') });
    assert.equal((await at(location, { method: 'DELETE' })).status, 204);
    const gone = await at(location, { method: 'PATCH', body: Buffer.from('more') });
    assert.equal(gone.status, 404);
    assert.equal(await code(gone), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('mounts a blob from a repository that holds it (201), and opens an upload where it does not (202)', async () => {
    const digest = await upload('up/source', Buffer.from('mount me'));
    const mounted = await at(`/v2/up/target/blobs/uploads/?mount=${digest}&from=up/source`, { method: 'POST' });
    assert.equal(mounted.status, 201);
    assert.equal((await at(`/v2/up/target/blobs/${digest}`)).status, 200);
    const missing = sha(Buffer.from('nowhere'));
    const opened = await at(`/v2/up/target/blobs/uploads/?mount=${missing}&from=up/source`, { method: 'POST' });
    assert.equal(opened.status, 202);
  });

  it('a client cut off mid-chunk leaves no blob, no tag and, once the registry stops, no temporary key', async () => {
    const { request } = await import('node:http');
    const started = await at('/v2/up/cut/blobs/uploads/', { method: 'POST' });
    const url = new URL(started.headers.get('location') as string, registry.url);
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'PATCH', headers: { 'content-length': String(1024 * KiB) } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(64 * KiB, 7));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await at('/v2/up/cut/tags/list')).status, 404);
    assert.equal((await at(url.pathname)).status, 404, 'the session ended with its client');
    assert.deepEqual(
      [...remote.objects.keys()].filter((k) => k.startsWith('tmp/')),
      [],
    );
  });
});

describe('registry face: manifests', () => {
  it('a tag is written only when every blob is there: MANIFEST_BLOB_UNKNOWN before, 201 after', async () => {
    const tar = Buffer.alloc(1024);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha(tar)] }, architecture: 'amd64', os: 'linux' }));
    const layer = gzipSync(tar);
    const manifest = manifestOf({ digest: sha(config), size: config.length }, [{ digest: sha(layer), size: layer.length }]);
    await upload('mf/app', config);
    const early = await putManifest('mf/app', 'v1', manifest);
    assert.equal(early.status, 400);
    assert.equal(await code(early), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(remote.objects.has('repositories/mf/app/v1'), false);
    await upload('mf/app', layer);
    const put = await putManifest('mf/app', 'v1', manifest);
    assert.equal(put.status, 201);
    const digest = sha(Buffer.from(JSON.stringify(manifest)));
    assert.equal(put.headers.get('docker-content-digest'), digest);
    const got = await at('/v2/mf/app/manifests/v1');
    assert.equal(got.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(got.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await (await at('/v2/mf/app/tags/list')).json(), { name: 'mf/app', tags: ['v1'] });
    const marker = JSON.parse(String(remote.objects.get('dogestry.json')?.bytes)) as { features: string[] };
    assert.ok(marker.features.includes('registry'));
  });

  it('refuses a manifest that is none (MANIFEST_INVALID) and one whose digest is not its reference (DIGEST_INVALID)', async () => {
    const bad = await at('/v2/mf/bad/manifests/v1', { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: '{"layers": 3}' });
    assert.equal(bad.status, 400);
    assert.equal(await code(bad), 'MANIFEST_INVALID');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'x', digest: sha(Buffer.from('a')), size: 1 },
      layers: [],
    });
    const wrong = await at(`/v2/mf/bad/manifests/${sha(Buffer.from('b'))}`, {
      method: 'PUT',
      headers: { 'content-type': OCI_MANIFEST },
      body,
    });
    assert.equal(wrong.status, 400);
    assert.equal(await code(wrong), 'DIGEST_INVALID');
  });

  it('referrers: a manifest with a subject is listed for it, before and without the subject; deletes drop it', async () => {
    const empty = await upload('mf/refs', Buffer.from('{}'));
    const subject = sha(Buffer.from('the subject manifest'));
    const artifact = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 20 },
    };
    const digest = sha(Buffer.from(JSON.stringify(artifact)));
    const put = await putManifest('mf/refs', digest, artifact);
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('oci-subject'), subject);
    const listed = (await (await at(`/v2/mf/refs/referrers/${subject}`)).json()) as {
      manifests: { digest: string; artifactType: string }[];
    };
    assert.deepEqual(
      listed.manifests.map((m) => [m.digest, m.artifactType]),
      [[digest, 'application/vnd.example.sbom']],
    );
    assert.equal((await at(`/v2/mf/refs/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    const after = (await (await at(`/v2/mf/refs/referrers/${subject}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(after.manifests, []);
  });

  it('DELETE: a tag alone by tag; the manifest and its tags by digest; a blob link; each then 404', async () => {
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [] } }));
    const cfg = await upload('mf/del', config);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.example.config', digest: cfg, size: config.length },
      layers: [],
    };
    assert.equal((await putManifest('mf/del', 'a', manifest)).status, 201);
    assert.equal((await putManifest('mf/del', 'b', manifest)).status, 201);
    assert.equal((await at('/v2/mf/del/manifests/a', { method: 'DELETE' })).status, 202);
    assert.deepEqual(((await (await at('/v2/mf/del/tags/list')).json()) as { tags: string[] }).tags, ['b']);
    const digest = sha(Buffer.from(JSON.stringify(manifest)));
    assert.equal((await at(`/v2/mf/del/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await at(`/v2/mf/del/manifests/${digest}`)).status, 404);
    assert.deepEqual(((await (await at('/v2/mf/del/tags/list')).json()) as { tags: string[] }).tags, []);
    assert.equal((await at(`/v2/mf/del/blobs/${cfg}`, { method: 'DELETE' })).status, 202);
    assert.equal((await at(`/v2/mf/del/blobs/${cfg}`)).status, 404);
    assert.equal((await at(`/v2/mf/del/blobs/${cfg}`, { method: 'DELETE' })).status, 404);
  });
});

describe('registry face: what the format makes of pushes', () => {
  it('a Docker schema 2 image with gzip layers, pushed by digest of its compressed layers: dogestry pull loads it, verify checks it', async () => {
    const config = Buffer.from(await (await at(`/v2/team/app/blobs/${image.imageId}`)).arrayBuffer());
    assert.equal(sha(config), image.imageId);
    await upload('gz/app', config);
    const layers: { digest: string; size: number }[] = [];
    for (const path of image.layerPaths) {
      const gz = gzipSync(await readFile(path));
      layers.push({ digest: await upload('gz/app', gz), size: gz.length });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: image.imageId, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
    };
    const put = await putManifest('gz/app', '1', manifest, manifest.mediaType);
    assert.equal(put.status, 201, await put.text());
    const engine = new FakeEngine();
    const pulled = await pull({ remote, engine, image: 'gz/app:1', cacheDir: join(work, 'cache') });
    assert.equal(pulled.imageId, image.imageId);
    assert.deepEqual(engine.loaded, [image.imageId]);
    const report = await verify({ remote });
    assert.deepEqual(report.problems, []);
    // A compressed layer whose tar is not the config's diffID is refused, not loaded.
    const other = gzipSync(Buffer.alloc(2048));
    const forged = {
      ...manifest,
      layers: [{ ...manifest.layers[0], digest: await upload('gz/app', other), size: other.length }, manifest.layers[1]],
    };
    assert.equal((await putManifest('gz/app', 'forged', forged, manifest.mediaType)).status, 201);
    await assert.rejects(pull({ remote, engine: new FakeEngine(), image: 'gz/app:forged', cacheDir: join(work, 'cache2') }), {
      code: 'DIGEST_MISMATCH',
    });
  });

  it("an image index: dogestry pull loads this host's platform's image, and refuses an index without one", async () => {
    const child = await at('/v2/gz/app/manifests/1', { method: 'HEAD' });
    const digest = child.headers.get('docker-content-digest') as string;
    const size = Number(child.headers.get('content-length'));
    const indexOf = (platform: { os: string; architecture: string }) => ({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest, size, platform }],
    });
    const here = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
    assert.equal((await putManifest('gz/app', 'multi', indexOf(here), 'application/vnd.oci.image.index.v1+json')).status, 201);
    const engine = new FakeEngine();
    const pulled = await pull({ remote, engine, image: 'gz/app:multi', cacheDir: join(work, 'cache-index') });
    assert.equal(pulled.imageId, image.imageId);
    assert.equal(pulled.manifestDigest, digest, "the platform's manifest");
    const elsewhere = { os: 'windows', architecture: 'amd64' };
    assert.equal((await putManifest('gz/app', 'win', indexOf(elsewhere), 'application/vnd.oci.image.index.v1+json')).status, 201);
    await assert.rejects(pull({ remote, engine: new FakeEngine(), image: 'gz/app:win', cacheDir: join(work, 'cache-index') }), {
      code: 'NOT_AN_IMAGE',
      message: /no linux\/(amd64|arm64) image \(it has: windows\/amd64\)/,
    });
    assert.deepEqual(
      (await verify({ remote })).problems.filter((p) => p.tags.some((t) => t.startsWith('gz/app:'))),
      [],
    );
  });

  it('dogestry pull refuses an artifact (NOT_AN_IMAGE)', async () => {
    const cfg = await upload('art/chart', Buffer.from('{"name":"chart"}'));
    const chart = gzipSync(Buffer.from('a helm chart'));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: cfg, size: 16 },
      layers: [
        { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: await upload('art/chart', chart), size: chart.length },
      ],
    };
    assert.equal((await putManifest('art/chart', '0.1.0', manifest)).status, 201);
    await assert.rejects(pull({ remote, engine: new FakeEngine(), image: 'art/chart:0.1.0', cacheDir: join(work, 'cache3') }), {
      code: 'NOT_AN_IMAGE',
      message: /artifact/,
    });
    const listed = await listImages({ remote });
    const row = (name: string) => listed.find((i) => i.name === name);
    assert.equal(row('art/chart')?.artifact, 'application/vnd.cncf.helm.config.v1+json', '`dogestry images` says what it is');
    assert.equal(row('art/chart')?.imageId, '');
    assert.equal(row('gz/app')?.imageId, image.imageId);
    assert.equal(row('gz/app')?.artifact, undefined);
  });

  it('gc reclaims what deletes and abandoned uploads left, and keeps what tags reach', async () => {
    const digest = await upload('gc/tmp', Buffer.from('uploaded, never referenced'));
    const report = await gc({ remote, grace: 0 });
    assert.ok(report.deleted.links.count >= 1);
    assert.equal(remote.objects.has(`blobs/sha256/${digest.slice(7)}`), false);
    assert.equal((await at(`/v2/gc/tmp/blobs/${digest}`)).status, 404);
    const engine = new FakeEngine();
    assert.equal((await pull({ remote, engine, image: 'gz/app:1', cacheDir: join(work, 'cache4') })).imageId, image.imageId);
    assert.equal((await at('/v2/mf/app/manifests/v1')).status, 200);
    assert.deepEqual(
      (await verify({ remote })).problems.filter((p) => !p.tags.includes('gz/app:forged')),
      [],
    );
  });
  it('gc keeps old content that a young link names: a fresh mount, an untagged manifest just pushed', async () => {
    const blob = await upload('gc/young', Buffer.from('old content, freshly linked'));
    const config = await upload('gc/young', Buffer.from('{"config":"of an untagged artifact"}'));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.example', digest: config, size: 36 },
      layers: [],
    };
    const digest = sha(Buffer.from(JSON.stringify(manifest)));
    assert.equal((await putManifest('gc/young', digest, manifest)).status, 201);
    for (const hex of [blob, config, digest]) {
      const object = remote.objects.get(`blobs/sha256/${hex.slice(7)}`);
      if (object) object.modified = new Date(0); // content from long ago; the links are new
    }
    await gc({ remote, grace: 60 });
    for (const hex of [blob, config, digest]) assert.equal(remote.objects.has(`blobs/sha256/${hex.slice(7)}`), true, hex);
  });

  it('gc keeps a referrer while its subject is kept, and takes both once the subject is deleted', async () => {
    const subject = (await at('/v2/mf/app/manifests/v1')).headers.get('docker-content-digest') as string;
    const empty = await upload('mf/app', Buffer.from('{}'));
    const signature = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 1 },
    };
    const digest = sha(Buffer.from(JSON.stringify(signature)));
    assert.equal((await putManifest('mf/app', digest, signature)).status, 201);
    await gc({ remote, grace: 0 });
    assert.equal(remote.objects.has(`blobs/sha256/${digest.slice(7)}`), true, 'kept: its subject is tagged');
    assert.equal((await at(`/v2/mf/app/manifests/${digest}`)).status, 200);
    assert.equal((await at(`/v2/mf/app/manifests/${subject}`, { method: 'DELETE' })).status, 202);
    const report = await gc({ remote, grace: 0 });
    assert.equal(remote.objects.has(`blobs/sha256/${subject.slice(7)}`), false);
    assert.equal(remote.objects.has(`blobs/sha256/${digest.slice(7)}`), false, 'a referrer goes with its subject');
    assert.deepEqual(
      [...remote.objects.keys()].filter((k) => k.startsWith(`referrers/sha256/${subject.slice(7)}`)),
      [],
    );
    assert.ok(report.deleted.links.count >= 2);
  });
});

describe('registry face: who may write', () => {
  it('--read-only refuses pushes and deletes (405 UNSUPPORTED) and still serves pulls', async () => {
    const readOnly = await startRegistry({ remote, listen: '127.0.0.1:0', readOnly: true });
    try {
      const post = await fetch(`${readOnly.url}/v2/ro/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(await code(post), 'UNSUPPORTED');
      assert.equal((await fetch(`${readOnly.url}/v2/team/app/manifests/1`, { method: 'DELETE' })).status, 405);
      assert.equal((await fetch(`${readOnly.url}/v2/team/app/manifests/1`)).status, 200);
    } finally {
      await readOnly.close();
    }
  });

  it('with users and --anonymous-read, anyone pulls but only a user pushes', async () => {
    const file = join(work, 'htpasswd');
    await run('htpasswd', ['-B', '-b', '-c', file, 'ci', 'push-pass']);
    const guarded = await startRegistry({ remote, listen: '127.0.0.1:0', htpasswd: file, anonymousRead: true });
    try {
      assert.equal((await fetch(`${guarded.url}/v2/team/app/manifests/1`)).status, 200);
      const anonymous = await fetch(`${guarded.url}/v2/auth/blobs/uploads/`, { method: 'POST' });
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      const authorization = `Basic ${Buffer.from('ci:push-pass').toString('base64')}`;
      const user = await fetch(`${guarded.url}/v2/auth/blobs/uploads/`, { method: 'POST', headers: { authorization } });
      assert.equal(user.status, 202);
    } finally {
      await guarded.close();
    }
  });
});
