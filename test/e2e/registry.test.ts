/**
 * `dogestry registry` against the real clients: an image pushed with `dogestry push` to a
 * directory remote is pulled by Docker 20.10 (`docker pull`, then with `docker login` and
 * htpasswd users), skopeo (inspect, copy), Podman and containerd's ctr, each getting the same
 * image ID; and each of them pushes the image into the registry, which `dogestry pull` then
 * loads with the same image ID. The registry runs as the real CLI, in its own process,
 * stopped by PID.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { push } from '@dogestry/core';
import { CLI, runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { stopChild } from '../support/process.js';
import { startRegistryProcess } from '../support/registry-process.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let work: string;
let dockerd: Dockerd;
let image: SyntheticImage;
let remote: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-registry-e2e-'));
  dockerd = await startDockerd();
  image = await buildImageTar(join(work, 'images'), 'team/app:1', [
    { seed: 'registry-random', size: 6 * MiB },
    { seed: 'registry-text', size: 3 * MiB, kind: 'text' },
  ]);
  await dockerd.docker('load', '-i', image.tarPath);
  remote = join(work, 'remote');
  await push({ remote, image: 'team/app:1', dockerHost: dockerd.host });
  await dockerd.docker('rmi', 'team/app:1');
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

const serve = (...flags: string[]) => startRegistryProcess(remote, flags, { ...process.env, XDG_CACHE_HOME: join(work, 'cache') });

it('docker pull, skopeo inspect and copy, podman pull, ctr pull: each gets the image dogestry pushed', async () => {
  const registry = await serve();
  try {
    await dockerd.docker('pull', `${registry.host}/team/app:1`);
    assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', `${registry.host}/team/app:1`)).trim(), image.imageId);

    const inspected = JSON.parse(
      (await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/app:1`])).stdout,
    ) as {
      Digest: string;
      Layers: string[];
    };
    assert.deepEqual(inspected.Layers, image.diffIds);
    const copied = join(work, 'skopeo-copy');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/team/app:1`, `dir:${copied}`]);

    const podmanRoot = join(work, 'podman');
    const podman = ['--root', join(podmanRoot, 'root'), '--runroot', join(podmanRoot, 'run'), '--storage-driver', 'vfs'];
    try {
      await run('podman', [...podman, '--cgroup-manager', 'cgroupfs', 'pull', '--tls-verify=false', '-q', `${registry.host}/team/app:1`]);
      const id = (await run('podman', [...podman, 'image', 'inspect', '-f', '{{.Id}}', `${registry.host}/team/app:1`])).stdout.trim();
      assert.equal(`sha256:${id}`, image.imageId);
    } finally {
      await run('podman', [...podman, 'system', 'reset', '--force']).catch(() => {});
    }

    const containerd = await startContainerd();
    try {
      await run('ctr', ['--address', containerd.socket, 'images', 'pull', '--plain-http', `${registry.host}/team/app:1`]);
      const listed = (await run('ctr', ['--address', containerd.socket, 'images', 'ls', '-q'])).stdout;
      assert.match(listed, new RegExp(`${registry.host.replace(/[.]/g, '\\.')}/team/app:1`));
    } finally {
      await containerd.stop();
    }
  } finally {
    const log = await registry.stop();
    assert.match(log, /GET \/v2\/team\/app\/manifests\/1 200/, 'each request is logged');
  }
});

it('docker push, skopeo copy, podman push and ctr push into it; dogestry pull loads each with the same image ID', async () => {
  const registry = await serve();
  const podmanRoot = join(work, 'podman-push');
  const podman = ['--root', join(podmanRoot, 'root'), '--runroot', join(podmanRoot, 'run'), '--storage-driver', 'vfs'];
  const containerd = await startContainerd();
  const ctr = (...args: string[]) => run('ctr', ['--address', containerd.socket, ...args]);
  try {
    await dockerd.docker('load', '-i', image.tarPath);
    await dockerd.docker('tag', 'team/app:1', `${registry.host}/pushed/docker:1`);
    await dockerd.docker('push', `${registry.host}/pushed/docker:1`);
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `docker-archive:${image.tarPath}`,
      `docker://${registry.host}/pushed/skopeo:1`,
    ]);
    await run('podman', [...podman, 'load', '-q', '-i', image.tarPath]);
    await run('podman', [...podman, 'push', '--tls-verify=false', '-q', 'team/app:1', `${registry.host}/pushed/podman:1`]);
    await ctr('images', 'import', '--all-platforms', image.tarPath);
    await ctr('images', 'tag', 'docker.io/team/app:1', `${registry.host}/pushed/ctr:1`);
    await ctr('images', 'push', '--plain-http', `${registry.host}/pushed/ctr:1`);
  } finally {
    await run('podman', [...podman, 'system', 'reset', '--force']).catch(() => {});
    await containerd.stop();
    await registry.stop();
  }
  const marker = JSON.parse(await readFile(join(remote, 'dogestry.json'), 'utf8')) as { features: string[] };
  assert.ok(marker.features.includes('registry'), 'the first registry push adds the feature');
  for (const client of ['docker', 'skopeo', 'podman', 'ctr']) {
    await dockerd.docker('rmi', '-f', image.imageId).catch(() => '');
    const pulled = await runCli(['pull', remote, `pushed/${client}:1`, '--docker-host', dockerd.host], {
      cwd: work,
      env: { ...process.env, XDG_CACHE_HOME: join(work, `cache-${client}`), DOGESTRY_DEBUG: '1' },
    });
    assert.equal(pulled.code, 0, `${client}: ${pulled.stderr}`);
    assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', `pushed/${client}:1`)).trim(), image.imageId, client);
  }
  const verified = await runCli(['verify', remote], { cwd: work });
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
});

it('a skopeo push killed mid-upload leaves no tag and, once the registry stops, no temporary key', async () => {
  const big = await buildImageTar(join(work, 'images'), 'kill/app:1', [{ seed: 'registry-kill', size: 128 * MiB }]);
  const registry = await serve();
  let log = '';
  try {
    const child = spawn(
      'skopeo',
      ['copy', '--dest-tls-verify=false', `docker-archive:${big.tarPath}`, `docker://${registry.host}/kill/app:1`],
      {
        stdio: 'ignore',
      },
    );
    // The layer's upload session is open once its POST is answered; its PATCH streams next.
    assert.ok(await until(async () => /POST \/v2\/kill\/app\/blobs\/uploads\/ 202/.test(registry.log()), { ms: 30_000 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const tags = await fetch(`${registry.url}/v2/kill/app/tags/list`);
    assert.equal(tags.status, 404, 'no tag');
  } finally {
    log = await registry.stop();
  }
  assert.match(log, /PATCH \/v2\/kill\/app\/blobs\/uploads\//, 'the upload had started');
  const { readdir } = await import('node:fs/promises');
  const tmp = await readdir(join(remote, 'tmp'), { recursive: true }).catch(() => [] as string[]);
  assert.deepEqual(
    tmp.filter((entry) => entry.split('/').length > 2),
    [],
    'no upload part left behind',
  );
});

it('with htpasswd users: docker pull and push are refused until docker login, then work', async () => {
  const htpasswd = join(work, 'htpasswd');
  await run('htpasswd', ['-B', '-b', '-c', htpasswd, 'deploy', 'reg-s3cret']);
  const registry = await serve('--htpasswd', htpasswd);
  const config = join(work, 'docker-config');
  await mkdir(config, { recursive: true });
  const docker = (...args: string[]) => run('docker', ['--config', config, '-H', dockerd.host, ...args]);
  try {
    await dockerd.docker('rmi', '-f', `${registry.host}/team/app:1`).catch(() => '');
    await assert.rejects(docker('pull', `${registry.host}/team/app:1`), /no basic auth credentials|unauthorized|authentication required/i);
    await assert.rejects(
      run('bash', ['-c', `printf %s wrong | docker --config ${config} login -u deploy --password-stdin ${registry.host}`]),
      /unauthorized|401|incorrect/i,
    );
    await run('bash', ['-c', `printf %s reg-s3cret | docker --config ${config} login -u deploy --password-stdin ${registry.host}`]);
    await docker('pull', `${registry.host}/team/app:1`);
    assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', `${registry.host}/team/app:1`)).trim(), image.imageId);
    // The logged-in user pushes too; a client with no credentials may not.
    await docker('tag', `${registry.host}/team/app:1`, `${registry.host}/auth/app:1`);
    await docker('push', `${registry.host}/auth/app:1`);
    await assert.rejects(
      dockerd.docker('push', `${registry.host}/auth/app:1`),
      /no basic auth credentials|unauthorized|authentication required/i,
    );
  } finally {
    const log = await registry.stop();
    assert.ok(!log.includes('reg-s3cret'), 'no password in the log');
    assert.match(log, / deploy\n/, 'the user is');
  }
});

it('beyond loopback without users or --anonymous-read it refuses to start (USAGE, exit 2)', async () => {
  const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(CLI, ['registry', remote, '--listen', '0.0.0.0:0', '--json'], (error, stdout) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
  assert.equal(result.code, 2);
  assert.equal((JSON.parse(result.stdout) as { error: { code: string } }).error.code, 'USAGE');
});

/** A private containerd (the one docker.io ships), on its own socket and root, stopped by PID. */
async function startContainerd(): Promise<{ socket: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-containerd-'));
  const socket = join(dir, 'containerd.sock');
  await writeFile(
    join(dir, 'config.toml'),
    `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${socket}"\n[ttrpc]\n  address = "${socket}.ttrpc"\n`,
  );
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
  const up = await until(
    () =>
      run('ctr', ['--address', socket, 'version']).then(
        () => true,
        () => false,
      ),
    { givenUp: () => child.exitCode !== null },
  );
  const stop = async () => {
    await stopChild(child);
    await run('bash', ['-c', `grep -o '${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  if (!up) {
    await stop();
    throw new Error('containerd did not start');
  }
  return { socket, stop };
}
