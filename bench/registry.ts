/**
 * The registry face beside the distribution registry (Debian's docker-registry, filesystem
 * storage), both on 127.0.0.1, in one run, medians of BENCH_RUNS: `docker push` of the
 * real-file image into each (each run into empty storage, so every layer moves), `docker pull`
 * through each of what `docker push` stored there, `docker pull` through ours of what
 * `dogestry push` stored, and the peak RSS of our server while 4 clients (skopeo) pull at once.
 * Writes bench/REGISTRY.md.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { push } from '@dogestry/core';
import { REPO_ROOT } from '../test/support/dockerd.js';
import { freePort } from '../test/support/nginx.js';
import { stopChild } from '../test/support/process.js';
import { startRegistryProcess } from '../test/support/registry-process.js';
import { until } from '../test/support/wait.js';
import { median } from './median.js';
import { buildRealImages, REAL_IMAGE } from './real-image.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function seconds(what: () => Promise<unknown>): Promise<number> {
  await run('sync');
  const started = Date.now();
  await what();
  return (Date.now() - started) / 1000;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(process.env.BENCH_TMP ?? tmpdir(), 'dogestry-registry-bench-'));
  const engineDir = join(work, 'engine');
  await mkdir(engineDir);
  const host = (await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['start', engineDir, 'overlay2'])).stdout.trim();
  const docker = (...args: string[]) => run('docker', ['-H', host, ...args], { maxBuffer: 64 << 20 });
  /** A distribution registry on empty storage, and ours on an empty directory remote: every push moves every layer. */
  const emptyRegistries = async (r: number) => {
    const port = await freePort();
    const config = join(work, `distribution-${r}.yml`);
    await writeFile(
      config,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, `distribution-${r}`)}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\nlog:\n  level: error\n`,
    );
    const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    children.push(child);
    await until(() =>
      fetch(`http://127.0.0.1:${port}/v2/`).then(
        (response) => response.ok,
        () => false,
      ),
    );
    const pushedTo = await startRegistryProcess(join(work, `pushed-${r}`), ['-q'], { ...process.env, XDG_CACHE_HOME: join(work, 'cache') });
    servers.push(pushedTo);
    return { theirs: `127.0.0.1:${port}`, ours: pushedTo.host };
  };
  const children: ReturnType<typeof spawn>[] = [];
  const servers: Awaited<ReturnType<typeof startRegistryProcess>>[] = [];
  let ours: Awaited<ReturnType<typeof startRegistryProcess>> | undefined;
  try {
    console.log('building images…');
    await buildRealImages(host, work);
    const remote = join(work, 'remote');
    await push({ remote, image: REAL_IMAGE, dockerHost: host });
    ours = await startRegistryProcess(remote, ['-q'], { ...process.env, XDG_CACHE_HOME: join(work, 'cache') });
    const saved = join(work, 'real.tar');
    await docker('save', '-o', saved, REAL_IMAGE);
    const m: Record<'theirs' | 'ours' | 'pushTheirs' | 'pushOurs' | 'oursGzip', number[]> = {
      theirs: [],
      ours: [],
      pushTheirs: [],
      pushOurs: [],
      oursGzip: [],
    };
    const clean = async () => {
      const ids = (await docker('images', '-q')).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker('rmi', '-f', ...new Set(ids));
    };
    for (let r = 1; r <= RUNS; r++) {
      console.log(`run ${r}/${RUNS}`);
      const fresh = await emptyRegistries(r);
      await clean();
      await docker('load', '-q', '-i', saved);
      for (const [to, into] of [
        [fresh.theirs, m.pushTheirs],
        [fresh.ours, m.pushOurs],
      ] as const) {
        await docker('tag', REAL_IMAGE, `${to}/${REAL_IMAGE}`);
        into.push(await seconds(() => docker('push', `${to}/${REAL_IMAGE}`)));
      }
      await clean();
      m.theirs.push(await seconds(() => docker('pull', `${fresh.theirs}/${REAL_IMAGE}`)));
      await clean();
      m.oursGzip.push(await seconds(() => docker('pull', `${fresh.ours}/${REAL_IMAGE}`)));
      await clean();
      m.ours.push(await seconds(() => docker('pull', `${ours?.host}/${REAL_IMAGE}`)));
    }
    // Four clients at once, then the server's peak RSS (VmHWM of its process).
    const four = await seconds(() =>
      Promise.all(
        [1, 2, 3, 4].map((i) =>
          run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ours?.host}/${REAL_IMAGE}`, `dir:${join(work, `client-${i}`)}`]),
        ),
      ),
    );
    const status = await readFile(`/proc/${ours.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const rows = [
      `| docker push into dogestry registry / into the distribution registry | ${(median(m.pushOurs) / median(m.pushTheirs)).toFixed(2)} (${median(m.pushOurs).toFixed(2)} s vs ${median(m.pushTheirs).toFixed(2)} s) | <= 1.1 |`,
      `| docker pull of what docker pushed: through dogestry registry / through the distribution registry | ${(median(m.oursGzip) / median(m.theirs)).toFixed(2)} (${median(m.oursGzip).toFixed(2)} s vs ${median(m.theirs).toFixed(2)} s) | <= 0.9 |`,
      `| docker pull of what \`dogestry push\` stored (lz4), through dogestry registry / the distribution registry's pull above | ${(median(m.ours) / median(m.theirs)).toFixed(2)} (${median(m.ours).toFixed(2)} s vs ${median(m.theirs).toFixed(2)} s) | <= 0.9 |`,
      `| peak RSS of dogestry registry, 4 skopeo clients pulling at once | ${hwm.toFixed(0)} MiB (${four.toFixed(2)} s for all four) | <= 150 MiB |`,
    ];
    const md = `# Registry face benchmark

Made by \`bash bench/registry.sh\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} cores, Docker 20.10 on overlay2, Debian's docker-registry (distribution 2.8, filesystem storage), both on 127.0.0.1; image \`${REAL_IMAGE}\` (bench/real-image.ts), pushed with \`dogestry push\` (lz4) to a directory that \`dogestry registry\` serves. Medians of ${RUNS} runs; each pull onto an engine holding no image.

| measure | result | goal |
|---|---|---|
${rows.join('\n')}

Every run (seconds): push into distribution ${m.pushTheirs.map((x) => x.toFixed(2)).join('/')}, into dogestry ${m.pushOurs.map((x) => x.toFixed(2)).join('/')}; pull from distribution ${m.theirs.map((x) => x.toFixed(2)).join('/')}, from dogestry of what docker pushed ${m.oursGzip.map((x) => x.toFixed(2)).join('/')}, of what dogestry pushed ${m.ours.map((x) => x.toFixed(2)).join('/')}.
Both registries take and serve the gzip layers \`docker push\` made, byte for byte (ours stores them wrapped in LZ4 frames of uncompressed blocks, docs/FORMAT.md); the engine decompresses them on pull. What \`dogestry push\` stored is served as uncompressed tars decoded from lz4 as they stream, hashed on the way, so the engine decompresses nothing.
`;
    await writeFile(join(REPO_ROOT, 'bench', 'REGISTRY.md'), md);
    console.log(md);
  } finally {
    await ours?.stop();
    for (const server of servers) await server.stop();
    for (const child of children) await stopChild(child);
    await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['stop', engineDir]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();
