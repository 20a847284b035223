/**
 * Progress in a real terminal: push and pull run in tmux against a real dockerd, and the
 * screen is captured while they run (tmux capture-pane), as a user would watch it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CLI } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { buildImageTar } from '../support/synthetic-image.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let dockerd: Dockerd;
let work: string;
const session = `dogestry-progress-${process.pid}`;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-tty-'));
  dockerd = await startDockerd();
  const image = await buildImageTar(join(work, 'images'), 'tty/app:1', [
    { seed: 'tty-a', size: 160 * MiB },
    { seed: 'tty-b', size: 64 * MiB, kind: 'text' },
  ]);
  await dockerd.docker('load', '-i', image.tarPath);
  await run('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '40']);
});

after(async () => {
  await run('tmux', ['kill-session', '-t', session]).catch(() => {});
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Type a command into the terminal, capture the screen every 50 ms until it prints `marker`; answers every screen seen. */
async function watch(command: string, marker: string): Promise<string[]> {
  await run('tmux', ['send-keys', '-t', session, `clear; ${command}; echo ${marker}-$?`, 'Enter']);
  const screens: string[] = [];
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { stdout } = await run('tmux', ['capture-pane', '-p', '-t', session]);
    screens.push(stdout);
    if (new RegExp(`^${marker}-\\d`, 'm').test(stdout) || Date.now() > deadline) return screens;
    await sleep(50);
  }
}

it('push and pull show what they wait for, then bytes, rate and ETA, on a real terminal', async () => {
  const env = `PATH=${process.env.PATH} XDG_CACHE_HOME=${join(work, 'cache')} DOCKER_API_VERSION=1.41`;
  const remote = join(work, 'remote');
  const pushed = await watch(`env ${env} ${CLI} push ${remote} tty/app:1 --docker-host ${dockerd.host}`, 'PUSHED');
  const pushEnd = pushed.at(-1) ?? '';
  assert.match(pushEnd, /PUSHED-0/, pushEnd);
  assert.match(pushEnd, /push tty\/app:1: 2 layers, 2 to upload/);
  assert.match(pushEnd, /uploaded {2}160\.0 MiB\n/, 'random bytes are stored at their size');
  assert.match(pushEnd, /uploaded {2}64\.0 MiB \([\d.]+ [KM]iB stored\)/, 'the text layer says what it was stored as');
  assert.doesNotMatch(pushEnd, /layer data/, 'the status line is cleared at the end');
  const pushStatus = pushed.join('\n');
  assert.match(pushStatus, /waiting for the engine to export tty\/app:1…|layer data/, 'a status line was on screen while it ran');
  assert.match(pushStatus, /[\d.]+ MiB (\/ [\d.]+ MiB )?layer data/);

  await dockerd.docker('rmi', 'tty/app:1');
  const pulled = await watch(`env ${env} ${CLI} pull ${remote} tty/app:1 --docker-host ${dockerd.host}`, 'PULLED');
  const pullEnd = pulled.at(-1) ?? '';
  assert.match(pullEnd, /PULLED-0/, pullEnd);
  assert.match(pullEnd, /loading into unix:\/\//);
  assert.match(pulled.join('\n'), /layer data|the engine is loading tty\/app:1…/, 'a status line was on screen while it ran');
  const during = (screens: string[]) => ([...screens].reverse().find((s) => /layer data|…/.test(s)) ?? '').trimEnd();
  console.log(`# push, on screen while it ran:\n${during(pushed)}\n# and at its end:\n${pushEnd.trimEnd()}`);
  console.log(`# pull, on screen while it ran:\n${during(pulled)}\n# and at its end:\n${pullEnd.trimEnd()}`);
});
