/**
 * The fleet: the real-file image onto 4 Docker hosts from radosgw, through the deploy machine
 * (one download, four load tars over its link) and delegated (each host's `dogestry serve`
 * pulls for itself with a pull ticket), side by side, medians of BENCH_RUNS; and one host
 * alone, delegated, for the per-host rate docs/SCALE.md builds on. Every run starts cold: no
 * image on any engine, every cache empty. All "hosts" share this machine's cores and disk, so
 * the wall times say what one machine does; the bytes through the deploy machine are what a
 * network would carry. Writes bench/FLEET.md.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../test/support/cli.js';
import { REPO_ROOT } from '../test/support/dockerd.js';
import { stopChild } from '../test/support/process.js';
import { startRadosgw } from '../test/support/radosgw.js';
import { until } from '../test/support/wait.js';
import { median } from './median.js';
import { buildRealImages, REAL_IMAGE } from './real-image.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const HOSTS = 4;
const TOKEN = 'fleet-bench-token-0123456789abcdef';
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

interface PullReport {
  readonly pulled: { bytesDownloaded: number; engines: { engine: string; error?: unknown; delegated?: { bytesDownloaded: number } }[] }[];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(process.env.BENCH_TMP ?? tmpdir(), 'dogestry-fleet-bench-'));
  const rgw = await startRadosgw(4096);
  const engines: { dir: string; host: string }[] = [];
  const agents: { child: ChildProcess; url: string; cache: string }[] = [];
  const env = { PATH: process.env.PATH ?? '', HOME: work, DOCKER_API_VERSION: '1.41', DOGESTRY_SERVER_TOKEN: TOKEN, ...rgw.env };
  try {
    for (let i = 0; i < HOSTS; i++) {
      const dir = join(work, `engine-${i}`);
      await mkdir(dir);
      engines.push({ dir, host: (await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['start', dir, 'overlay2'])).stdout.trim() });
    }
    const docker = (host: string, ...args: string[]) => run('docker', ['-H', host, ...args], { maxBuffer: 64 << 20 });
    console.log('building images…');
    const first = engines[0]?.host as string;
    await buildRealImages(first, work);
    await rgw.createBucket('fleet');
    const remote = rgw.url('fleet', 'repo/');
    await run(CLI, ['push', remote, REAL_IMAGE, '--docker-host', first, '-q'], { env });
    const size = Number((await docker(first, 'image', 'inspect', '-f', '{{.Size}}', REAL_IMAGE)).stdout.trim());
    for (const [i, engine] of engines.entries()) {
      const tokenFile = join(work, `token-${i}`);
      await writeFile(tokenFile, TOKEN, { mode: 0o600 });
      const cache = join(work, `agent-cache-${i}`);
      const child = spawn(
        CLI,
        ['serve', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--docker-host', engine.host, '--cache-dir', cache, '--json', '-q'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { PATH: env.PATH, HOME: work, DOCKER_API_VERSION: '1.41' },
        },
      );
      let out = '';
      child.stdout?.on('data', (d) => (out += d));
      await until(async () => out.includes('\n'));
      agents.push({ child, url: (JSON.parse(out) as { url: string }).url, cache });
    }
    const cold = async () => {
      for (const engine of engines) {
        const ids = (await docker(engine.host, 'images', '-q')).stdout.split('\n').filter(Boolean);
        if (ids.length) await docker(engine.host, 'rmi', '-f', ...new Set(ids));
      }
      for (const agent of agents) await rm(agent.cache, { recursive: true, force: true });
      await rm(join(work, 'client-cache'), { recursive: true, force: true });
      await run('sync');
    };
    const pullOnto = async (hosts: string[]): Promise<{ seconds: number; report: PullReport }> => {
      const started = Date.now();
      const { stdout } = await run(
        CLI,
        ['pull', remote, REAL_IMAGE, '--pull-hosts', hosts.join(','), '--cache-dir', join(work, 'client-cache'), '--json'],
        {
          env,
          maxBuffer: 64 << 20,
        },
      );
      return { seconds: (Date.now() - started) / 1000, report: JSON.parse(stdout) as PullReport };
    };
    const direct = engines.map((e) => e.host);
    const delegated = agents.map((a) => a.url.replace(/^http:/, 'dogestry:'));
    const m = { through: [] as number[], delegated: [] as number[], one: [] as number[] };
    let throughBytes = 0;
    let delegatedClientBytes = 0;
    let hostBytes = 0;
    for (let r = 1; r <= RUNS; r++) {
      console.log(`run ${r}/${RUNS}`);
      await cold();
      const a = await pullOnto(direct);
      m.through.push(a.seconds);
      // The deploy machine's link: the download, then a load tar of the whole image to each host.
      throughBytes = (a.report.pulled[0]?.bytesDownloaded ?? 0) + HOSTS * size;
      await cold();
      const b = await pullOnto(delegated);
      m.delegated.push(b.seconds);
      delegatedClientBytes = b.report.pulled[0]?.bytesDownloaded ?? 0;
      hostBytes = b.report.pulled[0]?.engines.reduce((sum, e) => sum + (e.delegated?.bytesDownloaded ?? 0), 0) ?? 0;
      await cold();
      m.one.push((await pullOnto(delegated.slice(0, 1))).seconds);
    }
    const perHost = size / median(m.one);
    const md = `# Fleet benchmark

Made by \`bash bench/fleet.sh\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} cores; ${HOSTS} private dockerds (Docker 20.10, overlay2) on this one machine, each with its own \`dogestry serve\`; radosgw (memstore) as the S3 remote on 127.0.0.1; image \`${REAL_IMAGE}\` (${mib(size)} uncompressed, bench/real-image.ts), pushed with \`dogestry push\` (lz4). Every run cold: no image on any engine, every cache empty. Medians of ${RUNS} runs.

| pull of the image onto ${HOSTS} hosts | wall time | bytes through the deploy machine's link |
|---|---|---|
| through the deploy machine (\`--pull-hosts unix://…\` ×${HOSTS}: one download, ${HOSTS} load tars) | ${median(m.through).toFixed(2)} s | ${mib(throughBytes)} |
| delegated (\`--pull-hosts dogestry://…\` ×${HOSTS}: each host pulls for itself with a ticket) | ${median(m.delegated).toFixed(2)} s (${(median(m.delegated) / median(m.through)).toFixed(2)} of the above) | ${mib(delegatedClientBytes)} of layers (the hosts downloaded ${mib(hostBytes)} themselves) |
| delegated onto 1 host alone | ${median(m.one).toFixed(2)} s, ${mib(perHost)}/s per host | 0 |

Every run (seconds): through ${m.through.map((x) => x.toFixed(2)).join('/')}; delegated ${m.delegated.map((x) => x.toFixed(2)).join('/')}; one host ${m.one.map((x) => x.toFixed(2)).join('/')}.
All hosts share this machine's ${cpus().length} cores and one disk, so delegation cannot show its wall-time gain here; what it removes is the deploy machine's link: ${mib(throughBytes)} → 0. docs/SCALE.md takes the per-host rate to 1,000 hosts.
`;
    await writeFile(join(REPO_ROOT, 'bench', 'FLEET.md'), md);
    console.log(md);
  } finally {
    for (const agent of agents) await stopChild(agent.child);
    for (const engine of engines) await run(join(REPO_ROOT, 'scripts', 'dockerd.sh'), ['stop', engine.dir]).catch(() => {});
    await rgw.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
