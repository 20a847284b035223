/**
 * Measures push and pull of an image of real files against the engine's floors (`docker
 * save`, `docker load`, and those with every byte hashed by plain node), the raw S3 SDK, and
 * skopeo, side by side in one run; each figure the median of BENCH_RUNS runs. Wall times and
 * peak RSS come from running the real CLI under GNU time.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { CLI } from '../test/support/cli.js';
import { REPO_ROOT } from '../test/support/dockerd.js';
import { freePort } from '../test/support/nginx.js';
import { startRadosgw } from '../test/support/radosgw.js';
import { buildImageTar, imageTarStream } from '../test/support/synthetic-image.js';
import { codecRows, kernelRows } from './codecs.js';
import { jiffies, type Load, machineLoad } from './machine-load.js';
import { median } from './median.js';
import { buildRealImages, REAL_BASE, REAL_IMAGE, REAL_VARIANT } from './real-image.js';
import { smallImageTimes } from './small-image.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DRIVER = process.env.BENCH_DRIVER ?? 'overlay2';
const MiB = 1024 * 1024;

interface Timed {
  seconds: number;
  rssMiB: number;
  stdout: string;
  /** The whole machine over the step (every process: ours, the engine, radosgw): see `machineLoad`. */
  load: Load;
}

/** No step of a healthy run comes near this: a hang fails the run and names the step. */
const STEP_DEADLINE_MS = 10 * 60 * 1000;

/**
 * Run a command under GNU time: wall seconds and peak RSS. Dirty pages left by earlier steps
 * (pull caches, the engine's export temp files) are flushed first, so the kernel's writeback
 * does not land inside whichever step happens to come next.
 */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  await run('sync');
  const before = await jiffies();
  const { stdout, stderr } = await run('/usr/bin/time', ['-f', '__TIME__ %e %M', cmd, ...args], {
    env,
    maxBuffer: 64 << 20,
    timeout: STEP_DEADLINE_MS,
    killSignal: 'SIGKILL',
  }).catch((error: { killed?: boolean; message: string }) => {
    throw new Error(error.killed ? `${cmd} ${args.join(' ')} hung for ${STEP_DEADLINE_MS / 60000} min` : error.message);
  });
  const m = /__TIME__ ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr}`);
  return { seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024, stdout, load: machineLoad(before, await jiffies()) };
}

const sh = (script: string, env: NodeJS.ProcessEnv = process.env) => timed('bash', ['-c', script], env);

/** Start to exit of two quick commands, run alternately 11 times each: their medians, in seconds. */
async function quickPair(...commands: [[string, string[]], [string, string[]]]): Promise<[number, number]> {
  const times: number[][] = commands.map(() => []);
  for (let i = 0; i < 11; i++) {
    for (const [index, [cmd, args]] of commands.entries()) {
      const start = performance.now();
      await run(cmd, args);
      times[index]?.push((performance.now() - start) / 1000);
    }
  }
  return [median(times[0] ?? []), median(times[1] ?? [])];
}

/** Plain node hashing every byte between the engine and a file: see the script. */
const FLOOR = join(REPO_ROOT, 'bench', 'verifying-floor.mjs');

const LINK_MIBPS = 100;

/** The directory remote `dir` over HTTP on one link of LINK_MIBPS (bench/paced-http.ts), until stopped. */
async function serveOverLink(dir: string): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'bench', 'paced-http.ts'), dir, String(port), String(LINK_MIBPS)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return { url: line.toString().trim(), stop: () => child.kill('SIGTERM') };
}

/** `docker load` from a stream. */
async function loadFrom(host: string, tar: Readable): Promise<void> {
  const child = spawn('docker', ['-H', host, 'load'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await pipeline(tar, child.stdin);
  const code = await exited;
  if (code !== 0) throw new Error(`docker load exited ${code}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = await mkdtemp(join(process.env.BENCH_TMP ?? tmpdir(), 'dogestry-bench-'));
  const engineDir = join(work, 'engine');
  await mkdir(engineDir);
  const { stdout: hostOut } = await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['start', engineDir, DRIVER]);
  const host = hostOut.trim();
  const rgw = await startRadosgw(6144);
  const rows: [string, string, string][] = [];
  const note = (measure: string, value: string, goal: string) => {
    rows.push([measure, value, goal]);
    console.log(`${measure}: ${value} (goal ${goal})`);
  };
  const docker = (...args: string[]) => run('docker', ['-H', host, ...args], { maxBuffer: 64 << 20 });
  const dogestry = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    timed(CLI, [...args, '--docker-host', host, '-q'], { ...env, XDG_CACHE_HOME: join(work, 'cache-none') });
  /** A pull with a fresh cache of its own (work/CACHE), so every pull downloads. */
  const pullWith = (cache: string, remote: string, image: string, env: NodeJS.ProcessEnv = process.env, json = false) =>
    dogestry(['pull', remote, image, '--cache-dir', join(work, cache), ...(json ? ['--json'] : [])], env);
  try {
    // The image under test: ~690 MB of this machine's real files in 3 layers, and a variant
    // with its top layer changed (bench/real-image.ts). Synthetic 1 GiB and 4 GiB images
    // serve only the memory check, where size matters and content does not.
    console.log('building images…');
    await buildRealImages(host, work);
    const saved = join(work, 'saved.tar');
    await sh(`docker -H ${host} save ${REAL_IMAGE} > ${saved}`);
    const variantTar = join(work, 'variant.tar');
    await sh(`docker -H ${host} save ${REAL_VARIANT} > ${variantTar}`);
    const imageBytes = (await stat(saved)).size;
    const mem1 = await buildImageTar(join(work, 'build'), 'bench:1g', [
      { seed: 'b1', size: 384 * MiB },
      { seed: 'b2', size: 256 * MiB, kind: 'text' },
      { seed: 'b3', size: 256 * MiB },
      { seed: 'b4', size: 128 * MiB, kind: 'text' },
    ]);
    await docker('load', '-i', mem1.tarPath);
    // 4 GiB, generated straight into the engine: nothing of it on disk but the engine's copy.
    const big = imageTarStream('bench:4g', [
      { seed: 'g1', size: 1024 * MiB },
      { seed: 'g2', size: 1024 * MiB, kind: 'text' },
      { seed: 'g3', size: 1024 * MiB },
      { seed: 'g4', size: 1024 * MiB },
    ]);
    await loadFrom(host, big.stream);

    const m: Record<string, number[]> = {};
    const add = (k: string, v: number) => (m[k] ??= []).push(v);
    const rss: Record<string, number[]> = {};
    const addRss = (k: string, v: number) => (rss[k] ??= []).push(v);
    const loads: Record<string, Load[]> = {};
    /** A step's seconds and the machine's load over it. */
    const record = (k: string, step: { seconds: number; load: Load }) => {
      add(k, step.seconds);
      (loads[k] ??= []).push(step.load);
    };
    /** Both at once, timed together (wall seconds until the later ends), with the machine's load over them. */
    const atOnce = async (a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<{ seconds: number; load: Load }> => {
      await run('sync');
      const before = await jiffies();
      const start = Date.now();
      await Promise.all([a(), b()]);
      return { seconds: (Date.now() - start) / 1000, load: machineLoad(before, await jiffies()) };
    };
    const rawUpload = (bucket: string, key: string) =>
      new Upload({
        client: rgw.client,
        params: { Bucket: bucket, Key: key, Body: createReadStream(saved) },
        partSize: 16 * MiB,
        queueSize: 4,
      }).done();
    const rawDownload = async (bucket: string, key: string) => {
      const got = await rgw.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(got.Body as NodeJS.ReadableStream, new Writable({ write: (_c, _e, cb) => cb() }));
    };

    for (let r = 1; r <= RUNS; r++) {
      console.log(`run ${r}/${RUNS}`);
      const local = join(work, `local-${r}`);
      add('save', (await sh(`docker -H ${host} save ${REAL_IMAGE} > /dev/null`)).seconds);
      record('floor-save', await timed(process.execPath, [FLOOR, 'save', host, REAL_IMAGE, join(work, 'floor.tar')]));
      await rm(join(work, 'floor.tar'));
      // The same floor with the lz4 tool compressing on the way (-1 with no checksum, as push
      // stores lz4): what verifying and compressing at the tool's speed costs on these cores.
      const floorLz4 = `set -o pipefail; ${process.execPath} ${FLOOR} save ${host} ${REAL_IMAGE} /dev/stdout | lz4 -1 -q --no-frame-crc > ${join(work, 'floor.lz4')}`;
      record('floor-save-lz4', await sh(floorLz4));
      await rm(join(work, 'floor.lz4'));
      const push = await dogestry(['push', local, REAL_IMAGE]);
      record('push-local', push);
      addRss('push-real', push.rssMiB);
      // The same push storing the tar as it is: what the format costs without lz4's encoding.
      const localNone = join(work, `local-none-${r}`);
      add('push-none', (await dogestry(['push', localNone, REAL_IMAGE, '--compression', 'none'])).seconds);
      // The variant: only its top layer is new.
      const v = await dogestry(['push', local, REAL_VARIANT, '--json']);
      const vr = JSON.parse(v.stdout) as { pushed: { layers: { result: string }[] }[] };
      add('variant-uploaded', (vr.pushed[0]?.layers ?? []).filter((l) => l.result === 'uploaded').length);
      add('variant-push', v.seconds);

      // Floors for pull: docker load of the saved tar onto an engine holding none of its layers
      // (the variant shares two, so it goes too; and the base they were built from, in the first
      // run, which holds the biggest: until 2026-11-26 it stayed, so the "cold" rows loaded two
      // of three layers).
      await docker('rmi', REAL_IMAGE, REAL_VARIANT);
      await docker('rmi', REAL_BASE).catch(() => undefined);
      add('load', (await sh(`docker -H ${host} load -i ${saved} > /dev/null`)).seconds);
      await docker('rmi', REAL_IMAGE);
      record('floor-load', await timed(process.execPath, [FLOOR, 'load', host, saved]));
      await docker('rmi', REAL_IMAGE);
      const cold = await pullWith(`cache-${r}`, local, REAL_IMAGE);
      record('pull-local', cold);
      addRss('pull-real', cold.rssMiB);
      // And from the remote stored as is: without lz4's decoding.
      await docker('rmi', REAL_IMAGE);
      add('pull-none', (await pullWith(`cache-n-${r}`, localNone, REAL_IMAGE)).seconds);
      // Delta: the engine now holds real/app:1, i.e. all but the variant's changed layer.
      const delta = await pullWith(`cache-d-${r}`, local, REAL_VARIANT);
      add('pull-delta', delta.seconds);

      // skopeo, side by side, onto the same cold engine.
      const sdir = join(work, `skopeo-${r}`);
      add(
        'skopeo-push',
        (await timed('skopeo', ['copy', '--src-daemon-host', host, `docker-daemon:${REAL_IMAGE}`, `dir:${sdir}`])).seconds,
      );
      await docker('rmi', REAL_IMAGE, REAL_VARIANT);
      add(
        'skopeo-pull',
        (await timed('skopeo', ['copy', '--dest-daemon-host', host, `dir:${sdir}`, `docker-daemon:${REAL_IMAGE}`])).seconds,
      );
      await rm(sdir, { recursive: true, force: true });

      // A deploy host's pull over a network link: the local remote served at LINK_MIBPS.
      await docker('rmi', REAL_IMAGE);
      const link = await serveOverLink(local);
      try {
        const paced = await pullWith(`cache-link-${r}`, link.url, REAL_IMAGE, process.env, true);
        add('link-pull', paced.seconds);
        const bytes = (JSON.parse(paced.stdout) as { pulled: { bytesDownloaded: number }[] }).pulled[0]?.bytesDownloaded ?? 0;
        add('link-transfer', bytes / MiB / LINK_MIBPS);
      } finally {
        link.stop();
      }

      // S3: the raw SDK moving the same bytes, then dogestry.
      const bucket = `bench-${r}`;
      await rgw.createBucket(bucket);
      await run('sync');
      const rawUp = Date.now();
      await rawUpload(bucket, 'raw.tar');
      add('s3-raw-up', (Date.now() - rawUp) / 1000);
      const rawDown = Date.now();
      await rawDownload(bucket, 'raw.tar');
      add('s3-raw-down', (Date.now() - rawDown) / 1000);
      // What this machine does with the engine's part and radosgw's part of a push at once: the
      // save and the raw upload of the saved tar, side by side (their 2 cores shared, as in a push).
      record(
        's3-floor-up',
        await atOnce(
          () => run('bash', ['-c', `docker -H ${host} save ${REAL_IMAGE} > /dev/null`]),
          () => rawUpload(bucket, 'raw-2.tar'),
        ),
      );
      const env = { ...process.env, ...rgw.env };
      const s3 = rgw.url(bucket, 'repo/');
      const s3Push = await dogestry(['push', s3, REAL_IMAGE], env);
      record('s3-push', s3Push);
      addRss('s3-push', s3Push.rssMiB);
      // And a pull's: the load of the saved tar beside the raw download.
      await docker('rmi', REAL_IMAGE);
      record(
        's3-floor-down',
        await atOnce(
          () => run('bash', ['-c', `docker -H ${host} load -i ${saved} > /dev/null`]),
          () => rawDownload(bucket, 'raw.tar'),
        ),
      );
      await docker('rmi', REAL_IMAGE);
      // The verifying load floor fed from S3: plain node downloading the raw tar (a presigned
      // URL, node's own http client) through sha256 into the engine's load.
      const presigned = await getSignedUrl(rgw.client, new GetObjectCommand({ Bucket: bucket, Key: 'raw.tar' }), { expiresIn: 900 });
      record('s3-floor-verify', await timed(process.execPath, [FLOOR, 'load', host, presigned]));
      await docker('rmi', REAL_IMAGE);
      const s3Pull = await pullWith(`cache-s3-${r}`, s3, REAL_IMAGE, env);
      record('s3-pull', s3Pull);
      addRss('s3-pull', s3Pull.rssMiB);
      await rm(local, { recursive: true, force: true });
      await rm(localNone, { recursive: true, force: true });
      for (const c of [`cache-${r}`, `cache-d-${r}`, `cache-n-${r}`, `cache-s3-${r}`, `cache-link-${r}`])
        await rm(join(work, c), { recursive: true, force: true });
      await docker('load', '-i', variantTar); // for the next run's variant push (real/app:1 is back from the S3 pull)

      // Start-up: the CLI against bare node, interleaved, to the tenth of a millisecond (GNU
      // time's 10 ms steps are a third of \`node -e 0\`: the ratio jumped between 1.33 and 1.67).
      const [version, bare] = await quickPair([CLI, ['--version']], [process.execPath, ['-e', '0']]);
      add('version', version);
      add('node-e0', bare);
    }

    // Memory: synthetic 1 GiB and 4 GiB, once each (a flat peak is what matters).
    console.log('memory check…');
    for (const [label, image] of [
      ['1g', 'bench:1g'],
      ['4g', 'bench:4g'],
    ] as const) {
      const remote = join(work, `local-${label}`);
      addRss(`push-${label}`, (await dogestry(['push', remote, image])).rssMiB);
      await docker('rmi', image);
      addRss(`pull-${label}`, (await pullWith(`cache-${label}`, remote, image)).rssMiB);
      await rm(remote, { recursive: true, force: true });
      await rm(join(work, `cache-${label}`), { recursive: true, force: true });
    }

    console.log('small image…');
    const small = await smallImageTimes(CLI, host, work);

    const ratio = (a: string, b: string) => median(m[a] ?? []) / median(m[b] ?? []);
    /** Median cores busy (of the machine's) and share stolen by the host over a step's runs. */
    const busy = (k: string) =>
      `${median((loads[k] ?? []).map((l) => l.cores)).toFixed(2)} of ${cpus().length} cores busy over the step, ${(median((loads[k] ?? []).map((l) => l.stolen)) * 100).toFixed(0)}% stolen`;
    const s = (k: string) => `${median(m[k] ?? []).toFixed(2)} s`;
    const mibps = (k: string) => `${(imageBytes / MiB / median(m[k] ?? [])).toFixed(0)} MiB/s`;
    note(
      'push (lz4) to a directory / verifying save floor',
      `${ratio('push-local', 'floor-save').toFixed(2)} (${s('push-local')} vs ${s('floor-save')}; docker save > /dev/null ${s('save')})`,
      '<= 1.1',
    );
    note(
      'push (lz4) / the verifying save floor piped through the lz4 tool (-1, no checksum)',
      `${ratio('push-local', 'floor-save-lz4').toFixed(2)} (${s('floor-save-lz4')}: ${busy('floor-save-lz4')}; that floor / the verifying floor ${ratio('floor-save-lz4', 'floor-save').toFixed(2)})`,
      "report: this machine's floor for a push that compresses",
    );
    note(
      'push / skopeo copy docker-daemon: dir:',
      `${ratio('push-local', 'skopeo-push').toFixed(2)} (${s('skopeo-push')}; verifying floor ${ratio('floor-save', 'skopeo-push').toFixed(2)} of it)`,
      '<= 0.9',
    );
    note(
      'the same push and cold pull with --compression none / their verifying floors',
      `${ratio('push-none', 'floor-save').toFixed(2)} (${s('push-none')}); ${ratio('pull-none', 'floor-load').toFixed(2)} (${s('pull-none')})`,
      'report: what lz4 adds is the rest',
    );
    note(
      'cold pull from a directory / verifying load floor',
      `${ratio('pull-local', 'floor-load').toFixed(2)} (${s('pull-local')} vs ${s('floor-load')}; docker load ${s('load')})`,
      '<= 1.1',
    );
    note(
      'cold pull / skopeo copy dir: docker-daemon:',
      `${ratio('pull-local', 'skopeo-pull').toFixed(2)} (${s('skopeo-pull')}; verifying floor ${ratio('floor-load', 'skopeo-pull').toFixed(2)} of it)`,
      '<= 0.85',
    );
    note(
      'delta pull (the changed top layer) / full docker load',
      `${ratio('pull-delta', 'load').toFixed(2)} (${s('pull-delta')}; the variant push uploaded ${median(m['variant-uploaded'] ?? [])} layer in ${s('variant-push')})`,
      '<= 0.25',
    );
    note(
      'peak RSS push real / 1 GiB / 4 GiB',
      `${median(rss['push-real'] ?? []).toFixed(0)} / ${median(rss['push-1g'] ?? []).toFixed(0)} / ${median(rss['push-4g'] ?? []).toFixed(0)} MiB`,
      '<= 128 MiB, flat',
    );
    note(
      'peak RSS pull real / 1 GiB / 4 GiB',
      `${median(rss['pull-real'] ?? []).toFixed(0)} / ${median(rss['pull-1g'] ?? []).toFixed(0)} / ${median(rss['pull-4g'] ?? []).toFixed(0)} MiB`,
      '<= 128 MiB, flat',
    );
    note(
      'peak RSS push / pull real, S3 (radosgw)',
      `${median(rss['s3-push'] ?? []).toFixed(0)} / ${median(rss['s3-pull'] ?? []).toFixed(0)} MiB (the AWS SDK's code alone is ~34 MiB: node with @aws-sdk/client-s3 loaded and a client made peaks at 76 MiB, bare at 42; a push's multipart parts, 8 MiB each, up to 5, are kept until S3 answers, for retries)`,
      '<= 128 MiB',
    );
    note(
      'cold pull from S3 (radosgw) / docker load',
      `${ratio('s3-pull', 'load').toFixed(2)} (${s('s3-pull')}; raw download ${s('s3-raw-down')}, ${mibps('s3-raw-down')})`,
      '<= 1.3',
    );
    note(
      'push to S3: (raw SDK upload + docker save) / push',
      `${((median(m['s3-raw-up'] ?? []) + median(m.save ?? [])) / median(m['s3-push'] ?? [])).toFixed(2)} (${s('s3-push')} vs ${s('s3-raw-up')} + ${s('save')}; raw up ${mibps('s3-raw-up')})`,
      '>= 0.9',
    );
    note(
      'push to S3 / (docker save and the raw upload of the saved tar, at once)',
      `${ratio('s3-push', 's3-floor-up').toFixed(2)} (${s('s3-push')}: ${busy('s3-push')}; the pair ${s('s3-floor-up')}: ${busy('s3-floor-up')})`,
      "report: this machine's floor for a push to S3",
    );
    note(
      'cold pull from S3 / the verifying load floor fed from S3 (plain node: download, sha256, load)',
      `${ratio('s3-pull', 's3-floor-verify').toFixed(2)} (${s('s3-floor-verify')}: ${busy('s3-floor-verify')}; that floor / docker load ${ratio('s3-floor-verify', 'load').toFixed(2)})`,
      "report: this machine's floor for a verifying pull from S3",
    );
    note(
      'cold pull from S3 / (docker load and the raw download, at once)',
      `${ratio('s3-pull', 's3-floor-down').toFixed(2)} (${s('s3-pull')}: ${busy('s3-pull')}; the pair ${s('s3-floor-down')}: ${busy('s3-floor-down')})`,
      "report: this machine's floor for a pull from S3",
    );
    note(
      'machine load over a directory push / its floor; a pull / its floor',
      `${busy('push-local')} / ${busy('floor-save')}; ${busy('pull-local')} / ${busy('floor-load')}`,
      'report',
    );
    note(
      `cold pull over a ${LINK_MIBPS} MiB/s HTTP link / (transfer at that rate, then docker load)`,
      `${(median(m['link-pull'] ?? []) / (median(m['link-transfer'] ?? []) + median(m.load ?? []))).toFixed(2)} (${s('link-pull')} vs ${s('link-transfer')} + ${s('load')})`,
      'report; < 1 is download and load overlapping',
    );
    const ms = (k: string) => `${(median(m[k] ?? []) * 1000).toFixed(1)} ms`;
    note(
      'dogestry --version / node -e 0',
      `${ratio('version', 'node-e0').toFixed(2)} (${ms('version')} vs ${ms('node-e0')}; medians of 11 alternated)`,
      '<= 1.6',
    );
    const secs = (x: number) => `${x.toFixed(2)} s`;
    note(
      `small image (${(small.bytes / 1e6).toFixed(0)} MB of real files, 2 layers): push / docker save; cold pull / docker load`,
      `${(small.push / small.save).toFixed(2)} (${secs(small.push)} vs ${secs(small.save)}); ${(small.pull / small.load).toFixed(2)} (${secs(small.pull)} vs ${secs(small.load)}); medians of 5 alternated`,
      'report: what fixed costs weigh',
    );
    note(
      'no-op push (the remote has the image); dogestry images EMPTY_DIR; node -e 0',
      `${secs(small.noopPush)}; ${secs(small.imagesEmpty)}; ${secs(small.nodeStart)} (start to exit, medians of 5)`,
      'report: fixed costs',
    );

    // Compression, per real layer: the layers of the saved tar (legacy layout: <id>/layer.tar).
    const layersDir = join(work, 'layers');
    await mkdir(layersDir);
    await run('tar', ['-C', layersDir, '-xf', saved]);
    const manifest = JSON.parse(await readFile(join(layersDir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const layerFiles = await Promise.all(
      (manifest[0]?.Layers ?? []).map(async (l, i) => {
        const path = join(layersDir, l);
        return { label: `layer ${i + 1} (${((await stat(path)).size / MiB).toFixed(0)} MiB)`, path };
      }),
    );
    const codecs = await codecRows(layerFiles, work);
    const lz4Cpu = (key: 'encodeCpu' | 'decodeCpu', codec: string) =>
      codecs.filter((c) => c.codec === codec).reduce((t, c) => t + c[key], 0);
    note(
      'lz4 encode / decode CPU, all layers / the lz4 tool on the same bytes',
      `${(lz4Cpu('encodeCpu', 'lz4') / lz4Cpu('encodeCpu', 'lz4 tool (-1)')).toFixed(2)} / ${(lz4Cpu('decodeCpu', 'lz4') / lz4Cpu('decodeCpu', 'lz4 tool (-1)')).toFixed(2)} (${lz4Cpu('encodeCpu', 'lz4').toFixed(2)} / ${lz4Cpu('decodeCpu', 'lz4').toFixed(2)} s)`,
      '<= 1.3',
    );
    // The kernels alone, on the biggest layer: how much of that is the algorithm, how much the build.
    const kernels = await kernelRows(layerFiles[0]?.path as string, work);
    const k = (name: string) => kernels.find((x) => x.kernel === name) as { encode: number; decode: number; storedMiB: number };
    const kRatio = (a: string, b: string) => `${(k(a).encode / k(b).encode).toFixed(2)} / ${(k(a).decode / k(b).decode).toFixed(2)}`;
    const shipped = kernels.some((x) => x.kernel === 'ours-napi') ? 'ours-napi' : 'ours-wasm';
    const kernelLabels: Record<string, string> = {
      liblz4: "liblz4, native: the `lz4` tool's library (acceleration 1)",
      'ours-native': 'ours, native: packages/core/wasm/lz4-block.c built here for x86-64, called from C',
      'ours-napi': "ours, native as shipped: the same C's Node-API build, called from node (push and pull's, on linux-x64)",
      'ours-wasm': "ours, WebAssembly: the same C's WebAssembly build, called from node (push and pull's elsewhere)",
    };
    const kernelTable = kernels.map(
      (x) => `| ${kernelLabels[x.kernel]} | ${x.storedMiB.toFixed(1)} MiB | ${x.encode.toFixed(3)} s | ${x.decode.toFixed(3)} s |`,
    );
    note(
      'lz4 kernels alone, layer 1 in memory: ours as push and pull run it / liblz4 (encode / decode)',
      `${kRatio(shipped, 'liblz4')} (the same C built here / liblz4: ${kRatio('ours-native', 'liblz4')}; WebAssembly / native: ${kRatio('ours-wasm', 'ours-native')})`,
      'report: the floor under the row above',
    );
    const comp = codecs.map(
      (c) => `| ${c.layer} | ${c.codec} | ${c.storedMiB.toFixed(1)} MiB | ${c.encodeCpu.toFixed(2)} s | ${c.decodeCpu.toFixed(2)} s |`,
    );

    const info = (await docker('version', '--format', '{{.Server.Version}}')).stdout.trim();
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const md = `# Benchmark results

Made by \`bash bench/run.sh\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Docker ${info} with ${DRIVER}, Ceph radosgw on memstore, skopeo from Debian, Node ${process.version}. Each figure is the median of ${RUNS} runs; the whole run took ${minutes} min. Image: \`${REAL_IMAGE}\`, ${(imageBytes / MiB).toFixed(0)} MiB of this machine's real files in 3 layers (/usr/bin, /usr/lib/python3.11, /usr/share/perl; bench/real-image.ts), default lz4; its variant changes the top layer. The memory rows add synthetic 1 GiB and 4 GiB images.

The verifying floors are plain node streaming the engine's save (or the saved tar into its load) through sha256, with no format: what any tool that checks every byte pays here.

| measure | result | goal |
|---|---|---|
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}

Every run, in order (seconds): ${Object.entries(m)
      .filter(([k]) => k !== 'variant-uploaded')
      .map(([k, v]) => `${k} ${v.map((x) => x.toFixed(2)).join('/')}`)
      .join('; ')}.

## Encodings per layer of the real image

Each figure is one process reading the layer from a file and writing to /dev/null, timed
by GNU time (user + system, threads included): dogestry's encoder and decoder as push and
pull run them (bench/codec-run.mjs: node's start and the codec's modules, not the whole
library's, included), then the \`lz4\` and \`zstd\`
tools on the same bytes; the median of 3 rounds, each encoding taking its turn in every round.
The \`none\` rows are what node pays to stream the bytes at all.

| layer | encoding | stored | encode CPU | decode CPU |
|---|---|---|---|---|
${comp.join('\n')}

## The lz4 kernels alone

The block encoder and decoder alone, in memory, on ${layerFiles[0]?.label ?? 'layer 1'} in 1 MiB blocks
(each kept compressed only where that saves 1/8, as push stores it): bench/lz4-kernel.c runs the
first two natively, bench/lz4-kernel.mjs the builds dogestry ships, from node. Each figure is the
fastest of 3 passes, in CPU seconds; the median of 3 alternated runs. Our C against liblz4, both
native, is the algorithm; the Node-API build against the same C called from C is the calls from
node; WebAssembly against native is the platform; what the rows above add beyond these is
streaming (compare their \`none\` rows) and the process.

| kernel | stored | encode | decode |
|---|---|---|---|
${kernelTable.join('\n')}
`;
    await writeFile(join(REPO_ROOT, 'bench', 'RESULTS.md'), md);
    console.log(md);
  } finally {
    await rgw.stop().catch(() => {});
    await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['stop', engineDir]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();
