/**
 * "Any HTTP server", as users have them rather than as our tests configure them:
 * - Python's http.server, an HTTP/1.0 server that closes every connection after its response,
 *   while our reads are paused by backpressure (compressible layers decode slowly). undici
 *   before 8 could crash the process there with an uncatchable assertion (nodejs/undici#5360);
 *   every pull must load the right image.
 * - nginx with `keepalive_timeout 0` (a WebDAV location): every write and read on a fresh
 *   connection that the server closes.
 * - Apache 2 with mod_dav: PUT, MKCOL, MOVE and PROPFIND as Apache answers them.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { push } from '@dogestry/core';
import { startApache } from '../support/apache.js';
import { runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { freePort, startNginx } from '../support/nginx.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

const MiB = 1024 * 1024;
const PULLS = 8;
let dockerd: Dockerd;
let work: string;
let server: ChildProcess;
let url: string;
let image: SyntheticImage;
let small: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-plainhttp-'));
  dockerd = await startDockerd();
  image = await buildImageTar(join(work, 'images'), 'plain/app:1', [
    { seed: 'plain-random-1', size: 48 * MiB },
    { seed: 'plain-text', size: 16 * MiB, kind: 'text' },
    { seed: 'plain-random-2', size: 48 * MiB },
  ]);
  await dockerd.docker('load', '-i', image.tarPath);
  small = await buildImageTar(join(work, 'images'), 'small/app:1', [
    { seed: 'small-random', size: 12 * MiB },
    { seed: 'small-text', size: 4 * MiB, kind: 'text' },
  ]);
  await dockerd.docker('load', '-i', small.tarPath);
  await push({ remote: join(work, 'served', 'repo'), image: 'plain/app:1', dockerHost: dockerd.host });
  const port = await freePort();
  server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], { cwd: join(work, 'served'), stdio: 'ignore' });
  url = `http://127.0.0.1:${port}/repo/`;
  assert.ok(await until(async () => (await fetch(`${url}dogestry.json`).catch(() => undefined))?.ok === true), 'http.server started');
});

after(async () => {
  server?.kill();
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

it(`${PULLS} pulls from python3 -m http.server (closes every connection) all load the right image`, async () => {
  const failures: string[] = [];
  for (let i = 0; i < PULLS; i++) {
    await dockerd.docker('rmi', '-f', 'plain/app:1').catch(() => '');
    const result = await runCli(['pull', url, 'plain/app:1', '--docker-host', dockerd.host, '-q'], {
      cwd: work,
      // A fresh cache each time, so every layer is downloaded through the server.
      env: { ...process.env, XDG_CACHE_HOME: join(work, `cache-${i}`), DOCKER_API_VERSION: '1.41' },
    });
    if (result.code !== 0) failures.push(`pull ${i + 1}: exit ${result.code}: ${result.stderr.slice(0, 500)}`);
    else assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', 'plain/app:1')).trim(), image.imageId);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${PULLS} pulls failed`);
});

it('reading a remote sends no request that modifies the server: pull uses GET and HEAD only; images and verify no PUT, MOVE or DELETE', async () => {
  // A static file server that records every request's method.
  const methods: string[] = [];
  const root = join(work, 'served');
  const server: Server = createServer(async (request, response) => {
    methods.push(request.method ?? '?');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405).end();
      return;
    }
    const path = join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': info.size, 'last-modified': info.mtime.toUTCString() });
    if (request.method === 'HEAD') response.end();
    else createReadStream(path).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const staticUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/repo/`;
  try {
    await dockerd.docker('rmi', '-f', 'plain/app:1').catch(() => '');
    const env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache-static'), DOCKER_API_VERSION: '1.41' };
    const pulled = await runCli(['pull', staticUrl, 'plain/app:1', '--docker-host', dockerd.host, '-q'], { cwd: work, env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.deepEqual(
      [...new Set(methods)].sort(),
      ['GET', 'HEAD'].filter((m) => methods.includes(m)),
      `pull sent ${methods.join(' ')}`,
    );
    assert.ok(methods.every((m) => m === 'GET' || m === 'HEAD'));
    for (const command of ['images', 'verify']) {
      const result = await runCli([command, staticUrl], { cwd: work, env });
      assert.equal(result.code, 6, `${command} on a server without listing is UNSUPPORTED: ${result.stderr}`);
    }
    const modifying = methods.filter((m) => ['PUT', 'POST', 'MOVE', 'DELETE', 'MKCOL', 'COPY'].includes(m));
    assert.deepEqual(modifying, [], 'no request that could modify the server');
  } finally {
    server.close();
  }
});

/** Push a small image to a writable server URL, list it, pull it back into an engine without it, verify it. */
async function roundTrip(remote: string, tag: string): Promise<void> {
  const env = { ...process.env, XDG_CACHE_HOME: join(work, `cache-${tag}`), DOCKER_API_VERSION: '1.41' };
  const cli = (...args: string[]) => runCli(args, { cwd: work, env });
  await dockerd.docker('tag', 'small/app:1', `small/app:${tag}`);
  const pushed = await cli('push', remote, `small/app:${tag}`, '--docker-host', dockerd.host, '--json');
  assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
  const again = await cli('push', remote, `small/app:${tag}`, '--docker-host', dockerd.host, '--json');
  assert.equal(again.code, 0, `a second push finds every blob present: ${again.stdout}${again.stderr}`);
  const listed = await cli('images', remote, '--json');
  assert.equal(listed.code, 0, listed.stdout + listed.stderr);
  assert.ok(listed.stdout.includes(`small/app`), listed.stdout);
  await dockerd.docker('rmi', `small/app:${tag}`);
  const pulled = await cli('pull', remote, `small/app:${tag}`, '--docker-host', dockerd.host, '-q');
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', `small/app:${tag}`)).trim(), small.imageId);
  const verified = await cli('verify', remote, '--json');
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
}

it('nginx with keepalive_timeout 0 (every connection closed by the server): push, list, pull, verify', async () => {
  const nginx = await startNginx({ keepalive: false });
  try {
    await roundTrip(`${nginx.url}/davmove/repo/`, 'nginx');
  } finally {
    await nginx.stop();
  }
});

it('Apache 2 with mod_dav (PUT, MKCOL, MOVE, PROPFIND listing): push, list, pull, verify', async () => {
  const apache = await startApache();
  try {
    await roundTrip(`${apache.url}/dav/repo/`, 'apache').catch(async (error: Error) => {
      // Keep Apache's own account of a failure (its 403s to racing MKCOLs were found this way).
      const log = await readFile(join(apache.root, 'logs', 'error.log'), 'utf8').catch(() => '(no error log)');
      error.message += `\nApache's error log:\n${log.slice(-4000)}`;
      throw error;
    });
  } finally {
    await apache.stop();
  }
});
