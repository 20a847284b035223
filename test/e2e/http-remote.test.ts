/**
 * End to end through HTTP against a real nginx and a real dockerd: push through PUT, pull
 * through plain GET from a read-only location, delta pulls, auth, read-only pushes, dropped
 * connections, and a missing tag.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pull } from '@dogestry/core';
import { DockerApiEngine } from '@dogestry/core/internal';
import { runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { startFaultyProxy } from '../support/faulty-proxy.js';
import { NGINX_PASSWORD, NGINX_USER, type Nginx, startNginx } from '../support/nginx.js';
import { RecordingEngine } from '../support/recording-engine.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { snapshot } from '../support/tree.js';

const MiB = 1024 * 1024;
let dockerd: Dockerd;
let nginx: Nginx;
let work: string;
let base: SyntheticImage;
let app: SyntheticImage;
let counter = 0;

const imageIds = async (): Promise<string[]> => (await dockerd.docker('images', '-q', '--no-trunc')).split('\n').filter(Boolean).sort();
const inspectId = async (ref: string): Promise<string> => (await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', ref)).trim();
const cli = (...args: string[]) => runCli([...args, '--docker-host', dockerd.host], { cwd: work });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-e2e-http-'));
  // Both settle before a failure is thrown, so after() stops whichever did start.
  const started = await Promise.allSettled([startDockerd().then((d) => (dockerd = d)), startNginx().then((s) => (nginx = s))]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  const layers = [
    { seed: 'http-base-1', size: 4 * MiB },
    { seed: 'http-base-2', size: 2 * MiB, kind: 'text' as const },
  ];
  base = await buildImageTar(join(work, 'images'), 'web-base:1', layers);
  app = await buildImageTar(join(work, 'images'), 'web-app:1', [...layers, { seed: 'http-app', size: 3 * MiB }]);
});

beforeEach(async () => {
  await dockerd.docker('load', '-i', base.tarPath);
  await dockerd.docker('load', '-i', app.tarPath);
});

after(async () => {
  await Promise.all([dockerd?.stop(), nginx?.stop()]);
  await rm(work, { recursive: true, force: true });
});

/** Push web-base and web-app through PUT into /dav/<repo>/, and publish the same tree read-only under /static/<repo>/. */
async function pushedRepo(): Promise<{ dav: string; stat: string }> {
  const repo = `repo-${++counter}`;
  const dav = `${nginx.url}/dav/${repo}/`;
  for (const image of ['web-base:1', 'web-app:1']) {
    const pushed = await cli('push', dav, image);
    assert.equal(pushed.code, 0, pushed.stderr);
  }
  await cp(join(nginx.root, 'dav', repo), join(nginx.root, 'static', repo), { recursive: true });
  return { dav, stat: `${nginx.url}/static/${repo}/` };
}

describe('http remote against nginx', () => {
  it('pushes through PUT, lists through autoindex, pulls through plain GET', async () => {
    const { dav, stat } = await pushedRepo();
    const images = await cli('images', dav, '--json');
    assert.equal(images.code, 0, images.stderr);
    assert.deepEqual(
      (JSON.parse(images.stdout) as { images: { name: string }[] }).images.map((i) => i.name),
      ['web-app', 'web-base'],
    );
    assert.equal((await cli('tags', dav, 'web-app')).stdout.trim(), '1');

    await dockerd.docker('rmi', 'web-app:1', 'web-base:1');
    const pulled = await cli('pull', stat, 'web-app:1');
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('web-app:1'), app.imageId);

    const listing = await cli('images', stat);
    assert.equal(listing.code, 6, 'a static server without listing cannot list');
    assert.match(listing.stderr, /cannot list its keys.*UNSUPPORTED/);
  });

  it('--fill-cache keeps what a pull into one engine downloads: the next pull of it downloads nothing', async () => {
    const { stat } = await pushedRepo();
    const cacheDir = join(work, `cache-${++counter}`);
    await dockerd.docker('rmi', 'web-base:1'); // web-app:1 alone holds its layers now
    const pullFrom = async (...flags: string[]) => {
      await dockerd.docker('rmi', 'web-app:1');
      const pulled = await cli('pull', stat, 'web-app:1', '--json', '--cache-dir', cacheDir, ...flags);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(await inspectId('web-app:1'), app.imageId);
      return (JSON.parse(pulled.stdout) as { pulled: { bytesDownloaded: number }[] }).pulled[0]?.bytesDownloaded;
    };
    const cached = async () => (await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => [])).sort();
    assert.ok(((await pullFrom()) ?? 0) > 0);
    assert.deepEqual(await cached(), [], 'by default, nothing is kept');
    assert.ok(((await pullFrom('--fill-cache')) ?? 0) > 0);
    assert.deepEqual(await cached(), app.diffIds.map((d) => d.slice(7)).sort());
    assert.equal(await pullFrom(), 0, 'every layer came from the cache');
  });

  it('delta pull: an engine holding the base gets only the missing layer', async () => {
    const { stat } = await pushedRepo();
    await dockerd.docker('rmi', 'web-app:1');
    const engine = new RecordingEngine(new DockerApiEngine(dockerd.host));
    const result = await pull({ remote: stat, image: 'web-app:1', engine, cacheDir: join(work, `cache-${++counter}`) });
    assert.deepEqual(
      engine.loads[0]?.filter((n) => n.endsWith('layer.tar')),
      [`${(app.diffIds[2] as string).slice(7)}/layer.tar`],
    );
    assert.equal(result.engines[0]?.layersPresent, 2);
    assert.equal(await inspectId('web-app:1'), app.imageId);
  });

  it('basic auth: the right password works, a wrong one is AUTH with nothing written and no secret printed', async () => {
    const repo = `${nginx.url.replace('http://', `http://${NGINX_USER}:wrong-pass@`)}/private/auth-${++counter}/`;
    const before = await snapshot(join(nginx.root, 'private'));
    const refused = await cli('push', repo, 'web-base:1', '--json');
    assert.equal(refused.code, 5, refused.stdout + refused.stderr);
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'AUTH');
    assert.doesNotMatch(refused.stdout + refused.stderr, /wrong-pass/);
    assert.deepEqual(await snapshot(join(nginx.root, 'private')), before, 'nothing written');

    const good = `${nginx.url.replace('http://', `http://${NGINX_USER}:${NGINX_PASSWORD}@`)}/private/auth-${counter}/`;
    const pushed = await cli('push', good, 'web-base:1', '--json');
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.doesNotMatch(pushed.stdout + pushed.stderr, new RegExp(NGINX_PASSWORD));
    assert.match(pushed.stdout, new RegExp(`"remote": "${nginx.url}/private/auth-${counter}/"`));
  });

  it('dogestry login: a user and password checked with one read, stored 0600, used with none in the URL; logout forgets them', async () => {
    const home = await mkdtemp(join(work, 'login-'));
    const repo = `${nginx.url}/private/login-${++counter}/`;
    const env = { PATH: process.env.PATH ?? '', HOME: home, DOCKER_API_VERSION: '1.41', XDG_CACHE_HOME: join(home, 'cache') };
    const as = (args: string[], input?: string) => runCli(args, { cwd: work, env, ...(input === undefined ? {} : { input }) });
    const wrong = await as(['login', repo, '--username', NGINX_USER, '--password-stdin'], 'wrong-pass');
    assert.equal(wrong.code, 5, wrong.stderr);
    assert.doesNotMatch(wrong.stdout + wrong.stderr, /wrong-pass/);
    const file = join(home, '.config', 'dogestry', 'credentials.json');
    assert.equal(await stat(file).catch(() => undefined), undefined, 'nothing stored');
    const login = await as(['login', repo, '--username', NGINX_USER, '--password-stdin'], `${NGINX_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const pushed = await as(['push', repo, 'web-base:1', '--docker-host', dockerd.host]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.doesNotMatch(pushed.stdout + pushed.stderr, new RegExp(NGINX_PASSWORD));
    assert.equal((await as(['logout', repo])).code, 0);
    assert.equal((await as(['pull', repo, 'web-base:1', '--docker-host', dockerd.host])).code, 5, 'after logout: AUTH again');
    const listed = await as(['images', repo, '--json']);
    assert.equal(listed.code, 5, `a listing the server refuses is AUTH, not "no listing": ${listed.stdout}`);
  });

  it('a push to a read-only server fails with READ_ONLY before any bytes move', async () => {
    const target = `${nginx.url}/static/readonly-${++counter}/`;
    const result = await cli('push', target, 'web-app:1');
    assert.equal(result.code, 6, result.stderr);
    assert.match(result.stderr, /read-only.*READ_ONLY/);
    assert.deepEqual(
      [...(await snapshot(join(nginx.root, 'static'))).keys()].filter((k) => k.startsWith(`readonly-${counter}`)),
      [],
    );
  });

  it('a connection dropped mid-blob is resumed with Range, and the image is exact', async () => {
    const { stat } = await pushedRepo();
    const proxy = await startFaultyProxy(nginx.url, { times: 1, afterBytes: 256 * 1024 });
    try {
      await dockerd.docker('rmi', 'web-app:1', 'web-base:1');
      const result = await cli('pull', stat.replace(nginx.url, proxy.url), 'web-app:1', '--cache-dir', join(work, `cache-${++counter}`));
      assert.equal(result.code, 0, result.stderr);
      // Every layer whose stored bytes exceed the cut point (the text layer lz4-compresses below it).
      assert.ok(proxy.cuts >= 2, `downloads were cut (${proxy.cuts})`);
      assert.equal(await inspectId('web-app:1'), app.imageId);
    } finally {
      await proxy.close();
    }
  });

  it('a server that keeps dropping fails cleanly with TRANSPORT and the engine untouched', async () => {
    const { stat } = await pushedRepo();
    const proxy = await startFaultyProxy(nginx.url, { times: 1000, afterBytes: 64 * 1024 });
    try {
      await dockerd.docker('rmi', 'web-app:1');
      const before = await imageIds();
      const result = await cli('pull', stat.replace(nginx.url, proxy.url), 'web-app:1', '--cache-dir', join(work, `cache-${++counter}`));
      assert.equal(result.code, 7, result.stderr);
      assert.match(result.stderr, /TRANSPORT/);
      assert.deepEqual(await imageIds(), before);
    } finally {
      await proxy.close();
    }
  });

  it('a missing tag is NOT_FOUND naming the tag', async () => {
    const { stat } = await pushedRepo();
    const result = await cli('pull', stat, 'web-app:nope');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /web-app:nope is not on .*NOT_FOUND/);
  });
});
