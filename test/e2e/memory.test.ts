/**
 * Memory stays bounded however big the image: the real CLI (bin/dogestry, with the node flags
 * it gives push and pull) pushes a 512 MiB image to a directory and pulls it back into an
 * empty engine, each under GNU time, and its peak RSS must stay under the bound. The CLI alone
 * is ~60 MiB before any byte moves (it was ~80 with oclif). These peaked at 118 MiB (push,
 * with its lz4 encoding thread; 112-114 without it) and 104-109 MiB (pull); without the
 * collection as it goes (core memory.ts), at ~170 MiB. The same image stored with
 * `--compression none` pulls at ~100 MiB.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { imageTarStream } from '../support/synthetic-image.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let dockerd: Dockerd;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-memory-'));
  dockerd = await startDockerd();
  // Random and text layers: stored raw and compressed, both decoded on the way back.
  const image = imageTarStream('big:1', [
    { seed: 'mem-1', size: 192 * MiB },
    { seed: 'mem-2', size: 192 * MiB, kind: 'text' },
    { seed: 'mem-3', size: 128 * MiB },
  ]);
  const load = execFile('docker', ['-H', dockerd.host, 'load']);
  image.stream.pipe(load.stdin as NodeJS.WritableStream);
  await new Promise<void>((resolve, reject) =>
    load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker load exited ${code}`)))),
  );
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Peak RSS in MiB of the CLI running `args`, from GNU time. */
async function peakRss(args: string[]): Promise<number> {
  const env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache') };
  const { stderr } = await run('/usr/bin/time', ['-f', '__RSS__ %M', CLI, ...args, '--docker-host', dockerd.host, '-q'], { env });
  const m = /__RSS__ (\d+)/.exec(stderr);
  assert.ok(m, stderr);
  return Number(m[1]) / 1024;
}

it('push and pull of a 512 MiB image each peak under 135 MiB', async (t) => {
  const remote = join(work, 'remote');
  const push = await peakRss(['push', remote, 'big:1']);
  await run('docker', ['-H', dockerd.host, 'rmi', 'big:1']);
  const pull = await peakRss(['pull', remote, 'big:1']);
  t.diagnostic(`peak RSS: push ${push.toFixed(0)} MiB, pull ${pull.toFixed(0)} MiB`);
  assert.ok(push < 135, `push peaked at ${push.toFixed(0)} MiB`);
  assert.ok(pull < 135, `pull peaked at ${pull.toFixed(0)} MiB`);
});

// Stored as is, a layer's read buffers go to the engine uncopied, and only the collection as
// they pass frees them: without it this pull peaked at ~145 MiB on the bench's real image.
it('a pull of the same image stored with --compression none peaks under 135 MiB', async (t) => {
  const remote = join(work, 'remote-none');
  await run(CLI, ['push', remote, 'big:1', '--compression', 'none', '--docker-host', dockerd.host, '-q']);
  await run('docker', ['-H', dockerd.host, 'rmi', 'big:1']);
  const pull = await peakRss(['pull', remote, 'big:1']);
  t.diagnostic(`peak RSS: pull ${pull.toFixed(0)} MiB`);
  assert.ok(pull < 135, `pull peaked at ${pull.toFixed(0)} MiB`);
});
