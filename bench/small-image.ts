/**
 * What a small image pays: fixed costs (the CLI's start, the engine's calls, the remote's
 * reads, fsyncs, the encoding thread's start) weigh most there. A ~26 MB image of real files in
 * two layers (/usr/lib/x86_64-linux-gnu/perl imported, then /usr/lib/python3.11/email added),
 * pushed to a directory and pulled cold, beside `docker save` and `docker load` of it; a push
 * that finds everything on the remote; and `dogestry images` of an empty directory, beside
 * `node -e 0`. Wall times, start to exit, each the median of `runs` alternated rounds.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { median } from './median.js';
import { buildOnto, importDir } from './real-image.js';

const run = promisify(execFile);

export const SMALL_BASE = 'real/smallbase:1';
export const SMALL_IMAGE = 'real/small:1';

export interface SmallImageTimes {
  /** Seconds, median of the rounds, by step. */
  readonly push: number;
  readonly save: number;
  readonly pull: number;
  readonly load: number;
  readonly noopPush: number;
  readonly imagesEmpty: number;
  readonly nodeStart: number;
  /** The image's size as the engine saves it, in bytes. */
  readonly bytes: number;
}

/** Wall seconds of one command, start to exit; `ok` lists exit codes that are not failures. */
async function wall(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, ok: number[] = [0]): Promise<number> {
  const start = performance.now();
  await run(cmd, args, { env, maxBuffer: 64 << 20 }).catch((error: { code?: number }) => {
    if (!ok.includes(error.code ?? -1)) throw error;
  });
  return (performance.now() - start) / 1000;
}

export async function smallImageTimes(cli: string, host: string, work: string, runs = 5): Promise<SmallImageTimes> {
  await importDir(host, 'usr/lib/x86_64-linux-gnu/perl', SMALL_BASE);
  await buildOnto(host, join(work, 'ctx-small'), SMALL_BASE, SMALL_IMAGE, [['/usr/lib/python3.11/email', '/usr/lib/python3.11/email']]);
  const dir = join(work, 'small');
  await mkdir(dir);
  const tar = join(dir, 'small.tar');
  await run('bash', ['-c', `docker -H ${host} save ${SMALL_IMAGE} > ${tar}`]);
  const bytes = Number((await run('stat', ['-c', '%s', tar])).stdout.trim());
  const empty = join(dir, 'empty');
  await mkdir(empty);
  const env = { ...process.env, XDG_CACHE_HOME: join(dir, 'cache-none') };
  const dogestry = (args: string[], ok?: number[]) => wall(cli, [...args, '--docker-host', host, '-q'], env, ok);
  const docker = (...args: string[]) => run('docker', ['-H', host, ...args]);
  const times: Record<keyof Omit<SmallImageTimes, 'bytes'>, number[]> = {
    push: [],
    save: [],
    pull: [],
    load: [],
    noopPush: [],
    imagesEmpty: [],
    nodeStart: [],
  };
  for (let round = 0; round < runs; round++) {
    const remote = join(dir, `remote-${round}`);
    times.save.push(await wall('bash', ['-c', `docker -H ${host} save ${SMALL_IMAGE} > /dev/null`]));
    times.push.push(await dogestry(['push', remote, SMALL_IMAGE]));
    times.noopPush.push(await dogestry(['push', remote, SMALL_IMAGE]));
    // Cold: neither layer on the engine, a fresh cache.
    await docker('rmi', SMALL_IMAGE);
    await docker('rmi', SMALL_BASE).catch(() => undefined); // tagged in the first round only
    times.load.push(await wall('bash', ['-c', `docker -H ${host} load -i ${tar} > /dev/null`]));
    await docker('rmi', SMALL_IMAGE);
    times.pull.push(await dogestry(['pull', remote, SMALL_IMAGE, '--cache-dir', join(dir, `cache-${round}`)]));
    // No repository there: `images` says so and exits 3 (NOT_FOUND), as a user would see it.
    times.imagesEmpty.push(await wall(cli, ['images', empty, '-q'], env, [3]));
    times.nodeStart.push(await wall(process.execPath, ['-e', '0']));
    await rm(remote, { recursive: true, force: true });
    await rm(join(dir, `cache-${round}`), { recursive: true, force: true });
  }
  await docker('rmi', SMALL_IMAGE).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  return {
    push: median(times.push),
    save: median(times.save),
    pull: median(times.pull),
    load: median(times.load),
    noopPush: median(times.noopPush),
    imagesEmpty: median(times.imagesEmpty),
    nodeStart: median(times.nodeStart),
    bytes,
  };
}
