/**
 * Measures push and pull against the engine's floors (`docker save`, `docker load`), the
 * raw S3 SDK, and skopeo, side by side in one run; each figure the median of BENCH_RUNS runs.
 * Wall times and peak RSS come from running the real CLI under GNU time.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { encoderFor } from '@dogestry/core/internal';
import { CLI } from '../test/support/cli.js';
import { REPO_ROOT } from '../test/support/dockerd.js';
import { freePort } from '../test/support/nginx.js';
import { startRadosgw } from '../test/support/radosgw.js';
import { buildImageTar, imageTarStream, type LayerSpec } from '../test/support/synthetic-image.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DRIVER = process.env.BENCH_DRIVER ?? 'overlay2';
const MiB = 1024 * 1024;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

interface Timed {
  seconds: number;
  rssMiB: number;
  stdout: string;
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
  return { seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024, stdout };
}

const sh = (script: string, env: NodeJS.ProcessEnv = process.env) => timed('bash', ['-c', script], env);

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
    // Images: 1 GiB in 4 layers (2 incompressible, 2 compressible), its variant with a different
    // 64 MiB top layer, and a 4 GiB one for the memory check.
    const base: LayerSpec[] = [
      { seed: 'b1', size: 384 * MiB },
      { seed: 'b2', size: 256 * MiB, kind: 'text' },
      { seed: 'b3', size: 256 * MiB },
      { seed: 'b4', size: 128 * MiB, kind: 'text' },
    ];
    console.log('building images…');
    const img = await buildImageTar(join(work, 'build'), 'bench:1g', base);
    // The variant as a partial load: only its top layer, for an engine that holds bench:1g.
    const variantTop = await buildImageTar(join(work, 'build'), 'bench:variant', [...base.slice(0, 3), { seed: 'v4', size: 64 * MiB }], {
      omitBottom: 3,
    });
    await docker('load', '-i', img.tarPath);
    await docker('load', '-i', variantTop.tarPath);
    // 4 GiB, generated straight into the engine: nothing of it on disk but the engine's copy.
    const big = imageTarStream('bench:4g', [
      { seed: 'g1', size: 1024 * MiB },
      { seed: 'g2', size: 1024 * MiB, kind: 'text' },
      { seed: 'g3', size: 1024 * MiB },
      { seed: 'g4', size: 1024 * MiB },
    ]);
    await loadFrom(host, big.stream);
    const saved = join(work, 'saved.tar');
    await sh(`docker -H ${host} save bench:1g > ${saved}`);
    const imageBytes = (await stat(saved)).size;

    const m: Record<string, number[]> = {};
    const add = (k: string, v: number) => (m[k] ??= []).push(v);
    const rss: Record<string, number[]> = {};
    const addRss = (k: string, v: number) => (rss[k] ??= []).push(v);

    for (let r = 1; r <= RUNS; r++) {
      console.log(`run ${r}/${RUNS}`);
      const local = join(work, `local-${r}`);
      add('save', (await sh(`docker -H ${host} save bench:1g > /dev/null`)).seconds);
      add('floor-save', (await timed(process.execPath, [FLOOR, 'save', host, 'bench:1g', join(work, 'floor.tar')])).seconds);
      await rm(join(work, 'floor.tar'));
      const push = await dogestry(['push', local, 'bench:1g']);
      add('push-local', push.seconds);
      addRss('push-1g', push.rssMiB);
      // The variant: only its 64 MiB top layer is new.
      const v = await dogestry(['push', local, 'bench:variant', '--json']);
      const vr = JSON.parse(v.stdout) as { pushed: { bytesWritten: number }[] };
      add('variant-bytes', (vr.pushed[0]?.bytesWritten ?? 0) / (64 * MiB));
      add('variant-push', v.seconds);

      // Floors for pull: docker load of the saved tar onto an engine holding none of its layers
      // (the variant shares three, so it goes too).
      await docker('rmi', 'bench:1g', 'bench:variant');
      add('load', (await sh(`docker -H ${host} load -i ${saved} > /dev/null`)).seconds);
      await docker('rmi', 'bench:1g');
      add('floor-load', (await timed(process.execPath, [FLOOR, 'load', host, saved])).seconds);
      await docker('rmi', 'bench:1g');
      const cold = await pullWith(`cache-${r}`, local, 'bench:1g');
      add('pull-local', cold.seconds);
      addRss('pull-1g', cold.rssMiB);
      // Delta: the engine now holds bench:1g, i.e. all but the variant's changed layer.
      const delta = await pullWith(`cache-d-${r}`, local, 'bench:variant');
      add('pull-delta', delta.seconds);

      // skopeo, side by side, onto the same cold engine.
      const sdir = join(work, `skopeo-${r}`);
      add('skopeo-push', (await timed('skopeo', ['copy', '--src-daemon-host', host, 'docker-daemon:bench:1g', `dir:${sdir}`])).seconds);
      await docker('rmi', 'bench:1g', 'bench:variant');
      add('skopeo-pull', (await timed('skopeo', ['copy', '--dest-daemon-host', host, `dir:${sdir}`, 'docker-daemon:bench:1g'])).seconds);
      await rm(sdir, { recursive: true, force: true });

      // A deploy host's pull over a network link: the local remote served at LINK_MIBPS.
      await docker('rmi', 'bench:1g');
      const link = await serveOverLink(local);
      try {
        const paced = await pullWith(`cache-link-${r}`, link.url, 'bench:1g', process.env, true);
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
      await new Upload({
        client: rgw.client,
        params: { Bucket: bucket, Key: 'raw.tar', Body: createReadStream(saved) },
        partSize: 16 * MiB,
        queueSize: 4,
      }).done();
      add('s3-raw-up', (Date.now() - rawUp) / 1000);
      const rawDown = Date.now();
      const got = await rgw.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'raw.tar' }));
      await pipeline(got.Body as NodeJS.ReadableStream, new Writable({ write: (_c, _e, cb) => cb() }));
      add('s3-raw-down', (Date.now() - rawDown) / 1000);
      const env = { ...process.env, ...rgw.env };
      const s3 = rgw.url(bucket, 'repo/');
      add('s3-push', (await dogestry(['push', s3, 'bench:1g'], env)).seconds);
      await docker('rmi', 'bench:1g');
      add('s3-pull', (await pullWith(`cache-s3-${r}`, s3, 'bench:1g', env)).seconds);
      await rm(local, { recursive: true, force: true });
      for (const c of [`cache-${r}`, `cache-d-${r}`, `cache-s3-${r}`, `cache-link-${r}`])
        await rm(join(work, c), { recursive: true, force: true });
      await docker('load', '-i', variantTop.tarPath); // for the next run's variant push (bench:1g is back from the S3 pull)
    }

    // Memory: 4 GiB image, once (a flat peak is what matters).
    console.log('4 GiB memory check…');
    const local4 = join(work, 'local-4g');
    addRss('push-4g', (await dogestry(['push', local4, 'bench:4g'])).rssMiB);
    await docker('rmi', 'bench:4g');
    addRss('pull-4g', (await pullWith('cache-4g', local4, 'bench:4g')).rssMiB);
    await rm(local4, { recursive: true, force: true });

    const ratio = (a: string, b: string) => median(m[a] ?? []) / median(m[b] ?? []);
    const s = (k: string) => `${median(m[k] ?? []).toFixed(2)} s`;
    const mibps = (k: string) => `${(imageBytes / MiB / median(m[k] ?? [])).toFixed(0)} MiB/s`;
    note(
      'full push to local remote / docker save > /dev/null',
      `${ratio('push-local', 'save').toFixed(2)} (${s('push-local')} vs ${s('save')})`,
      '<= 1.15',
    );
    note(
      'verifying floor: save streamed through sha256 into a file by plain node / docker save',
      `${ratio('floor-save', 'save').toFixed(2)} (${s('floor-save')})`,
      'report: what hashing and storing every byte costs by itself here',
    );
    note('full push to local remote / that verifying floor', ratio('push-local', 'floor-save').toFixed(2), 'report');
    note(
      'full push to S3 / (raw SDK upload + save floor)',
      `${((median(m['s3-raw-up'] ?? []) + median(m.save ?? [])) / median(m['s3-push'] ?? [])).toFixed(2)} of raw throughput (${s('s3-push')} vs ${s('s3-raw-up')} + ${s('save')}; raw up ${mibps('s3-raw-up')}, down ${mibps('s3-raw-down')})`,
      'report; >= 0.8',
    );
    note(
      '64 MiB-changed variant: bytes written / changed layer size',
      `${median(m['variant-bytes'] ?? []).toFixed(3)} (push ${s('variant-push')})`,
      '<= 1.05',
    );
    note(
      'cold pull from local remote / docker load',
      `${ratio('pull-local', 'load').toFixed(2)} (${s('pull-local')} vs ${s('load')})`,
      '<= 1.25',
    );
    note(
      "verifying floor: saved tar streamed through sha256 into the engine's load by plain node / docker load",
      `${ratio('floor-load', 'load').toFixed(2)} (${s('floor-load')})`,
      'report: what hashing every byte on its way in costs by itself here',
    );
    note('cold pull from local remote / that verifying floor', ratio('pull-local', 'floor-load').toFixed(2), 'report');
    note(
      'pull onto an engine holding all but the changed layer / full docker load',
      `${ratio('pull-delta', 'load').toFixed(2)} (${s('pull-delta')})`,
      '<= 0.25',
    );
    note(
      'cold pull from S3 / docker load',
      `${ratio('s3-pull', 'load').toFixed(2)} (${s('s3-pull')}; raw download ${s('s3-raw-down')})`,
      'report',
    );
    note(
      `cold pull over a ${LINK_MIBPS} MiB/s HTTP link / (transfer at that rate, then docker load)`,
      `${(median(m['link-pull'] ?? []) / (median(m['link-transfer'] ?? []) + median(m.load ?? []))).toFixed(2)} (${s('link-pull')} vs ${s('link-transfer')} + ${s('load')})`,
      'report; < 1 is download and load overlapping',
    );
    note(
      'dogestry push / skopeo copy docker-daemon: dir:',
      `${ratio('push-local', 'skopeo-push').toFixed(2)} (${s('push-local')} vs ${s('skopeo-push')}; verifying floor ${ratio('floor-save', 'skopeo-push').toFixed(2)}, save alone ${ratio('save', 'skopeo-push').toFixed(2)})`,
      '<= 0.7',
    );
    note(
      'dogestry pull / skopeo copy dir: docker-daemon:',
      `${ratio('pull-local', 'skopeo-pull').toFixed(2)} (${s('pull-local')} vs ${s('skopeo-pull')}; verifying floor ${ratio('floor-load', 'skopeo-pull').toFixed(2)}, load alone ${ratio('load', 'skopeo-pull').toFixed(2)})`,
      '<= 0.7',
    );
    note(
      'peak RSS push 1 GiB / 4 GiB; pull 1 GiB / 4 GiB',
      `${median(rss['push-1g'] ?? []).toFixed(0)} / ${median(rss['push-4g'] ?? []).toFixed(0)} MiB; ${median(rss['pull-1g'] ?? []).toFixed(0)} / ${median(rss['pull-4g'] ?? []).toFixed(0)} MiB`,
      '<= 200 MiB, flat',
    );

    // Compression, per layer: encode time and size.
    const comp: string[] = [];
    for (const [label, path] of [
      ['incompressible 384 MiB', img.layerPaths[0]],
      ['compressible 256 MiB', img.layerPaths[1]],
    ] as const) {
      // Read once first, so that no encoding is timed with the file still on disk.
      await pipeline(createReadStream(path as string), new Writable({ write: (_c, _e, cb) => cb() }));
      for (const c of ['lz4', 'gzip', 'none'] as const) {
        let size = 0;
        const t = Date.now();
        await pipeline(
          createReadStream(path as string, { highWaterMark: MiB }),
          encoderFor(c),
          new Writable({
            write: (chunk, _e, cb) => {
              size += chunk.length;
              cb();
            },
          }),
        );
        comp.push(`| ${label} | ${c} | ${((Date.now() - t) / 1000).toFixed(2)} s | ${(size / MiB).toFixed(1)} MiB |`);
      }
    }

    const info = (await docker('version', '--format', '{{.Server.Version}}')).stdout.trim();
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const md = `# Benchmark results

Made by \`bash bench/run.sh\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Docker ${info} with ${DRIVER}, Ceph radosgw on memstore, skopeo from Debian, Node ${process.version}. Each figure is the median of ${RUNS} runs; the whole run took ${minutes} min. Image: ${(imageBytes / MiB).toFixed(0)} MiB in 4 layers (2 incompressible, 2 compressible), default lz4.

| measure | result | goal |
|---|---|---|
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}

Every run, in order (seconds): ${Object.entries(m)
      .filter(([k]) => k !== 'variant-bytes')
      .map(([k, v]) => `${k} ${v.map((x) => x.toFixed(2)).join('/')}`)
      .join('; ')}.

## Compression per layer (encode only, one stream)

| layer | compression | time | stored size |
|---|---|---|---|
${comp.join('\n')}
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
