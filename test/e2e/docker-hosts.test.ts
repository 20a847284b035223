/**
 * DOCKER_HOST forms as the docker CLI takes them, against a real dockerd: tcp on IPv6
 * loopback (socat in front of the engine's socket), a relative unix:// path, ssh:// through a
 * real sshd and the remote host's `docker system dial-stdio`, and docker contexts written by
 * the real docker CLI (DOCKER_CONTEXT and config.json's currentContext).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { freePort } from '../support/nginx.js';
import { tcpListening } from '../support/process.js';
import { type Sshd, startSshd } from '../support/sshd.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
let dockerd: Dockerd;
let work: string;
let socat: ChildProcess;
let port: number;
let image: SyntheticImage;
let sshd: Sshd;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-hosts-'));
  dockerd = await startDockerd();
  image = await buildImageTar(join(work, 'images'), 'hosts/app:1', [{ seed: 'hosts-a', size: 1024 * 1024 }]);
  await dockerd.docker('load', '-i', image.tarPath);
  port = await freePort();
  const socket = dockerd.host.replace('unix://', '');
  socat = spawn('socat', [`TCP6-LISTEN:${port},bind=[::1],fork,reuseaddr`, `UNIX-CONNECT:${socket}`], { stdio: 'ignore' });
  assert.ok(await until(() => tcpListening('::1', port)), 'socat listens on [::1]');
  sshd = await startSshd(dockerd.host);
});

after(async () => {
  await sshd?.stop();
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

it('ssh://root@127.0.0.1:PORT runs `docker system dial-stdio` over a real sshd: push, then pull back', async () => {
  const host = `ssh://root@127.0.0.1:${sshd.port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(work, 'cache-ssh'), DOGESTRY_SSH_COMMAND: sshd.sshCommand };
  delete env.DOCKER_API_VERSION; // negotiated with /_ping through the tunnel
  const remote = join(work, 'over-ssh');
  const pushed = await runCli(['push', remote, 'hosts/app:1', '--docker-host', host, '--json'], { cwd: work, env });
  assert.equal(pushed.code, 0, pushed.stderr);
  await dockerd.docker('rmi', 'hosts/app:1');
  const pulled = await runCli(['pull', remote, 'hosts/app:1', '--json'], { cwd: work, env: { ...env, DOCKER_HOST: host } });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', 'hosts/app:1')).trim(), image.imageId);
});

it("ssh:// with a key the server refuses is ENGINE_UNREACHABLE, with ssh's own words", async () => {
  const env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache-ssh'), DOGESTRY_SSH_COMMAND: sshd.wrongKeyCommand };
  const result = await runCli(
    ['push', join(work, 'refused'), 'hosts/app:1', '--docker-host', `ssh://root@127.0.0.1:${sshd.port}`, '--json'],
    {
      cwd: work,
      env,
    },
  );
  assert.equal(result.code, 8, result.stderr);
  const error = JSON.parse(result.stdout).error as { code: string; message: string };
  assert.equal(error.code, 'ENGINE_UNREACHABLE');
  assert.match(error.message, /Permission denied/);
});

it('docker contexts made by the docker CLI: DOCKER_CONTEXT, then config.json currentContext; DOCKER_HOST still wins', async () => {
  const config = join(work, 'docker-config');
  const docker = (...args: string[]) => run('docker', ['--config', config, ...args]);
  await docker('context', 'create', 'v6', '--docker', `host=tcp://[::1]:${port}`);
  const base: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(work, 'cache'), DOCKER_CONFIG: config };
  delete base.DOCKER_HOST;
  delete base.DOCKER_CONTEXT;
  // A context that names nothing reachable, to show which one was used.
  await docker('context', 'create', 'nowhere', '--docker', 'host=tcp://127.0.0.1:1');
  const named = await runCli(['push', join(work, 'ctx'), 'hosts/app:1', '--json'], { cwd: work, env: { ...base, DOCKER_CONTEXT: 'v6' } });
  assert.equal(named.code, 0, named.stderr);
  await docker('context', 'use', 'nowhere');
  const current = await runCli(['push', join(work, 'ctx'), 'hosts/app:1', '--json'], { cwd: work, env: base });
  assert.equal(current.code, 8, 'currentContext is used when nothing else is set');
  assert.match(JSON.parse(current.stdout).error.message, /tcp:\/\/127\.0\.0\.1:1/);
  const overridden = await runCli(['push', join(work, 'ctx'), 'hosts/app:1', '--json'], {
    cwd: work,
    env: { ...base, DOCKER_HOST: dockerd.host },
  });
  assert.equal(overridden.code, 0, overridden.stderr);
  const missing = await runCli(['push', join(work, 'ctx'), 'hosts/app:1', '--json'], {
    cwd: work,
    env: { ...base, DOCKER_CONTEXT: 'gone' },
  });
  assert.equal(missing.code, 2);
  assert.equal(JSON.parse(missing.stdout).error.code, 'CONFIG');
});
