/**
 * DOCKER_HOST forms as the docker CLI takes them, against a real dockerd: tcp on IPv6
 * loopback (socat in front of the engine's socket) and a relative unix:// path.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { freePort } from '../support/nginx.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

let dockerd: Dockerd;
let work: string;
let socat: ChildProcess;
let port: number;
let image: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-hosts-'));
  dockerd = await startDockerd();
  image = await buildImageTar(join(work, 'images'), 'hosts/app:1', [{ seed: 'hosts-a', size: 1024 * 1024 }]);
  await dockerd.docker('load', '-i', image.tarPath);
  port = await freePort();
  const socket = dockerd.host.replace('unix://', '');
  socat = spawn('socat', [`TCP6-LISTEN:${port},bind=[::1],fork,reuseaddr`, `UNIX-CONNECT:${socket}`], { stdio: 'ignore' });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const probe = connect({ host: '::1', port }, () => {
        probe.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
  assert.ok(await until(listening), 'socat listens on [::1]');
});

after(async () => {
  socat?.kill();
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

const cli = (cwd: string, ...args: string[]) =>
  runCli(args, { cwd, env: { ...process.env, XDG_CACHE_HOME: join(work, 'cache'), DOCKER_API_VERSION: '1.41' } });

it('tcp://[::1]:PORT reaches the engine (push, then pull back the right image)', async () => {
  const host = `tcp://[::1]:${port}`;
  const remote = join(work, 'v6');
  const pushed = await cli(work, 'push', remote, 'hosts/app:1', '--docker-host', host);
  assert.equal(pushed.code, 0, pushed.stderr);
  await dockerd.docker('rmi', 'hosts/app:1');
  const pulled = await runCli(['pull', remote, 'hosts/app:1'], {
    cwd: work,
    env: { ...process.env, DOCKER_HOST: host, XDG_CACHE_HOME: join(work, 'cache'), DOCKER_API_VERSION: '1.41' },
  });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', 'hosts/app:1')).trim(), image.imageId);
});

it('unix://relative.sock is a path relative to the working directory', async () => {
  const pushed = await cli(dockerd.dir, 'push', join(work, 'relative'), 'hosts/app:1', '--docker-host', 'unix://docker.sock');
  assert.equal(pushed.code, 0, pushed.stderr);
});
