/** Podman's Docker-compatible API service on a private socket, fresh dirs, stopped by PID (flags from REAL-SERVERS.md). */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './wait.js';

export interface PodmanService {
  readonly host: string;
  readonly dir: string;
  /** Its image store, and the TMPDIR it writes uploaded load tars to. */
  readonly root: string;
  readonly tmp: string;
  stop(): Promise<void>;
}

export async function startPodman(): Promise<PodmanService> {
  const dir = await mkdtemp(join(process.env.DOGESTRY_TEST_TMP ?? tmpdir(), 'dogestry-podman-'));
  const root = join(dir, 'root');
  const tmp = join(dir, 'tmp');
  await mkdir(tmp);
  const socket = join(dir, 'podman.sock');
  const flags = ['--root', root, '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', '--tmpdir', join(dir, 'libpod-tmp')];
  const child: ChildProcess = spawn(
    'podman',
    [...flags, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', 'system', 'service', '--time=0', `unix://${socket}`],
    { stdio: 'ignore', env: { ...process.env, TMPDIR: tmp } },
  );
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  if (!(await until(() => ping(socket), { ms: 30_000, givenUp: () => child.exitCode !== null }))) {
    await stop();
    throw new Error('podman system service did not answer /_ping within 30 s');
  }
  return { host: `unix://${socket}`, dir, root, tmp, stop };
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}
