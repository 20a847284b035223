/**
 * Crashes and gc against real servers: pushes SIGKILLed at random points (dogestry's CLI,
 * a real dockerd, a directory remote and Ceph radosgw), then verify, a re-push that uploads
 * only what is missing, and gc --grace 0s leaving exactly what tags reach; and gc racing
 * concurrent pushers that reuse blobs gc is collecting.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Remote } from '@dogestry/core';
import { format, openRemote } from '@dogestry/core/internal';
import { CLI, type CliResult, runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { type Radosgw, startRadosgw } from '../support/radosgw.js';
import { buildImageTar, type LayerSpec, type SyntheticImage } from '../support/synthetic-image.js';

const MiB = 1024 * 1024;
/** Leases and gc markers of the processes here lapse after this many seconds (60 by default). */
const LEASE_SECONDS = 2;
const KILLS = 30;

let dockerd: Dockerd;
let rgw: Radosgw | undefined;
let work: string;
/** Ten images sharing a base and, in pairs, a middle layer; each with its own top. */
const crashImages: { tag: string; image: SyntheticImage }[] = [];
/** Six images for the race, sharing layers the same way. */
const raceImages: { tag: string; image: SyntheticImage }[] = [];

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: work,
    XDG_CACHE_HOME: join(work, 'cache'),
    DOCKER_API_VERSION: '1.41',
    DOGESTRY_LEASE_SECONDS: String(LEASE_SECONDS),
    ...rgw?.env,
    ...extra,
  };
}

const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--docker-host', dockerd.host], { cwd: work, env: env() });

function ok(result: CliResult, what: string): CliResult {
  assert.equal(result.code, 0, `${what}: exit ${result.code}\n${result.stderr}`);
  return result;
}

/** Start a push and SIGKILL it after `ms`; answers whether it had finished by then. */
function pushKilledAfter(remote: string, tag: string, as: string, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, ['push', remote, tag, '--as', as, '--docker-host', dockerd.host, '-q'], {
      cwd: work,
      env: env(),
      stdio: 'ignore',
    });
    let exited = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!exited) resolve(code === 0);
      exited = true;
    });
  });
}

async function allKeys(remote: Remote): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of remote.list('')) keys.push(key);
  return keys.sort();
}

/** The tags and every key they need: manifests, configs, layers and image pointers. */
async function reachable(remote: Remote): Promise<Set<string>> {
  const needed = new Set<string>();
  for await (const key of remote.list('repositories/')) {
    const manifestHex = await format.readPointer(remote, key);
    if (!manifestHex) continue;
    needed.add(key);
    const { manifest } = await format.readImage(remote, manifestHex);
    needed.add(format.blobKey(manifestHex));
    needed.add(manifest.config.digest.replace('sha256:', 'blobs/sha256/'));
    needed.add(manifest.config.digest.replace('sha256:', 'images/sha256/'));
    for (const layer of manifest.layers) needed.add(layer.digest.replace('sha256:', 'blobs/sha256/'));
  }
  return needed;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-crash-'));
  const started = await Promise.allSettled([startDockerd().then((d) => (dockerd = d)), startRadosgw(2048).then((s) => (rgw = s))]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const base: LayerSpec = { seed: 'crash-base', size: 4 * MiB };
  for (let i = 0; i < 10; i++) {
    // One image's top is larger than an S3 multipart part (16 MiB), so kills leave unfinished uploads.
    const top = { seed: `crash-top-${i}`, size: i === 0 ? 20 * MiB : 2 * MiB };
    const layers = [base, { seed: `crash-mid-${i >> 1}`, size: 1 * MiB, kind: 'text' as const }, top];
    const tag = `crash/app-${i}:1`;
    crashImages.push({ tag, image: await buildImageTar(join(work, 'images'), tag, layers) });
  }
  for (let i = 0; i < 6; i++) {
    const layers = [base, { seed: `race-mid-${i % 3}`, size: 1 * MiB, kind: 'text' as const }, { seed: `race-top-${i}`, size: 1 * MiB }];
    const tag = `race/app-${i}:1`;
    raceImages.push({ tag, image: await buildImageTar(join(work, 'images'), tag, layers) });
  }
  for (const { image } of [...crashImages, ...raceImages]) await dockerd.docker('load', '-i', image.tarPath);
});

after(async () => {
  await Promise.allSettled([dockerd?.stop(), rgw?.stop()]);
  await rm(work, { recursive: true, force: true });
});

interface Target {
  readonly url: string;
  open(): Promise<Remote>;
  /** What the storage itself holds beside keys: a directory's temporary files, S3's unfinished uploads. */
  leftovers(): Promise<string[]>;
}

async function directoryTarget(name: string): Promise<Target> {
  const dir = join(work, name);
  return {
    url: dir,
    open: () => openRemote(dir),
    leftovers: async () => (await readdir(join(dir, '.dogestry-tmp')).catch(() => [])).map((f) => `.dogestry-tmp/${f}`),
  };
}

async function s3Target(name: string): Promise<Target> {
  const s3 = rgw as Radosgw;
  await s3.createBucket(name);
  const url = s3.url(name, 'repo/');
  return {
    url,
    open: () => openRemote(url, { env: env() }),
    leftovers: async () => {
      const page = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: name }));
      return (page.Uploads ?? []).map((u) => `multipart ${u.Key}`);
    },
  };
}

for (const kind of ['directory', 's3'] as const) {
  describe(`crashes (${kind})`, () => {
    it(`${KILLS} SIGKILLed pushes; then verify, a re-push of only what is missing, and gc --grace 0s leaving exactly what tags reach`, async () => {
      const target = kind === 'directory' ? await directoryTarget('crash-dir') : await s3Target('crash');
      let finished = 0;
      for (let i = 0; i < KILLS; i++) {
        const { tag } = crashImages[i % crashImages.length] as { tag: string };
        // CLI start-up is ~0.4 s; a push of these images takes ~0.3 s more to a directory and
        // ~1.2 s to radosgw: kill anywhere from start-up to a little past the end.
        const window = kind === 'directory' ? 700 : 1500;
        if (await pushKilledAfter(target.url, tag, `crash/killed-${i}:1`, 200 + Math.floor(Math.random() * window))) finished++;
      }
      const remote = await target.open();
      const verified = JSON.parse(ok(await cli('verify', target.url, '--json'), 'verify after the kills').stdout) as { tags: number };
      // A push killed between its tag write and its exit has published a (complete) tag too.
      assert.ok(verified.tags >= finished && verified.tags <= KILLS, `${verified.tags} tags for ${finished} finished pushes`);

      for (const { tag, image } of crashImages) {
        const present = new Set(await allKeys(remote));
        const pushed = JSON.parse(ok(await cli('push', target.url, tag, '--json'), `re-push ${tag}`).stdout) as {
          pushed: { layers: { diffId: string; result: string }[] }[];
        };
        const uploaded = (pushed.pushed[0]?.layers ?? []).filter((l) => l.result === 'uploaded').map((l) => l.diffId);
        const missing = [...new Set(image.diffIds)].filter((d) => !present.has(d.replace('sha256:', 'blobs/sha256/')));
        assert.deepEqual(uploaded.sort(), missing.sort(), `${tag} uploads only what the kills left missing`);
      }
      ok(await cli('verify', target.url), 'verify after the re-push');

      await sleep(LEASE_SECONDS * 1000 + 1200); // the killed pushers' leases lapse
      const gc = JSON.parse(ok(await cli('gc', target.url, '--grace', '0s', '--json'), 'gc').stdout) as {
        freed: { count: number };
        kept: { leases: number };
      };
      assert.equal(gc.kept.leases, 0);
      const needed = await reachable(remote);
      const left = await allKeys(remote);
      assert.deepEqual(
        left.filter((k) => k !== 'dogestry.json'),
        [...needed].sort(),
        'gc left exactly what the tags reach: no temp keys, leases or markers',
      );
      assert.deepEqual(await target.leftovers(), [], "the storage's own leftovers are gone too");
      ok(await cli('verify', target.url), 'verify after gc');
      await remote.close?.();
      console.log(`# crashes (${kind}): ${KILLS} kills, ${finished} pushes had finished first; gc freed ${gc.freed.count} keys`);
    });
  });

  describe(`gc racing pushers (${kind})`, () => {
    it('six concurrent pushes sharing layers, reusing blobs of killed pushes, with gc --grace 0s in a loop: every tag verifies and pulls', async () => {
      const target = kind === 'directory' ? await directoryTarget('race-dir') : await s3Target('race');
      // Blobs left by killed pushes, with no tag: gc wants them, the pushes below reuse them.
      for (const [i, { tag }] of raceImages.entries()) await pushKilledAfter(target.url, tag, `race/killed-${i}:1`, 700 + i * 150);
      let stop = false;
      let gcRuns = 0;
      const gcLoop = (async () => {
        while (!stop) {
          ok(await cli('gc', target.url, '--grace', '0s', '-q'), 'gc in the loop');
          gcRuns++;
        }
      })();
      try {
        for (let round = 0; round < 2; round++) {
          const results = await Promise.all(raceImages.map(({ tag }) => cli('push', target.url, tag, '-q')));
          for (const [i, result] of results.entries()) ok(result, `round ${round}: push ${raceImages[i]?.tag}`);
          ok(await cli('verify', target.url), `round ${round}: verify`);
          // Untag them all: the next round's pushes reuse blobs that gc is collecting.
          if (round === 0) for (const { tag } of raceImages) ok(await cli('rm', target.url, tag), `rm ${tag}`);
        }
      } finally {
        stop = true;
        await gcLoop;
      }
      assert.ok(gcRuns >= 2, `gc ran ${gcRuns} times`);
      ok(await cli('verify', target.url), 'verify at the end');
      for (const { tag, image } of raceImages) {
        await dockerd.docker('rmi', '-f', tag);
        ok(await cli('pull', target.url, tag, '-q'), `pull ${tag}`);
        assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', tag)).trim(), image.imageId);
      }
      console.log(`# gc racing pushers (${kind}): gc ran ${gcRuns} times during 12 pushes`);
    });
  });
}
