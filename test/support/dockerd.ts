/** A throwaway dockerd per test file, via scripts/dockerd.sh (fresh dirs, private socket, stopped by PID). */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(REPO_ROOT, 'scripts', 'dockerd.sh');

export interface Dockerd {
  readonly host: string;
  readonly dir: string;
  /** Run the docker CLI against this engine. */
  docker(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<Dockerd> {
  const dir = await mkdtemp(join(process.env.DOGESTRY_TEST_TMP ?? tmpdir(), 'dogestry-dockerd-'));
  const { stdout } = await run(SCRIPT, ['start', dir]);
  const host = stdout.trim();
  return {
    host,
    dir,
    docker: async (...args) =>
      (await run('docker', ['-H', host, ...args], { env: { ...process.env, DOCKER_API_VERSION: '1.41' }, maxBuffer: 64 << 20 })).stdout,
    stop: async () => {
      await run(SCRIPT, ['stop', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
