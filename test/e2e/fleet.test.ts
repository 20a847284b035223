/**
 * The fleet: four private dockerds, each with its own `dogestry serve` started with an
 * environment that holds no credentials at all, and radosgw as the remote. The deploy
 * machine's `dogestry pull --pull-hosts dogestry://…` hands each host a pull ticket; every host
 * downloads what its own engine lacks and loads it, and the deploy machine downloads no layer
 * bytes. Also: a wrong token, a ticket for another image, a server killed mid-pull, and
 * `dogestry login` standing in for credentials in the environment.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { stopChild } from '../support/process.js';
import { type Radosgw, startRadosgw } from '../support/radosgw.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const TOKEN = 'fleet-test-token-0123456789abcdef';
let work: string;
let rgw: Radosgw;
const engines: Dockerd[] = [];
let agents: { url: string; child: ChildProcess; log: () => string }[] = [];
let image: SyntheticImage;
let base: SyntheticImage;
let big: SyntheticImage;
let remote: string;

/** `dogestry serve` for one engine, with no credentials in its environment, stopped by PID. */
async function startAgent(
  engine: Dockerd,
  name: string,
  flags: string[] = [],
): Promise<{ url: string; child: ChildProcess; log: () => string }> {
  const tokenFile = join(work, `token-${name}`);
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const home = await mkdtemp(join(work, `agent-home-${name}-`));
  const child = spawn(
    CLI,
    ['serve', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--docker-host', engine.host, '--json', ...flags],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: home, DOCKER_API_VERSION: '1.41' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  if (!(await until(async () => stdout.includes('\n'), { givenUp: () => child.exitCode !== null }))) {
    throw new Error(`dogestry serve did not start: ${stderr}`);
  }
  return { url: (JSON.parse(stdout) as { url: string }).url, child, log: () => stderr };
}

/** The deploy machine: the CLI with the bucket's credentials and the servers' token. */
function deploy(args: string[], env: Record<string, string> = {}) {
  return runCli(args, {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: work,
      XDG_CACHE_HOME: join(work, 'deploy-cache'),
      DOCKER_API_VERSION: '1.41',
      DOGESTRY_SERVER_TOKEN: TOKEN,
      ...rgw.env,
      ...env,
    },
  });
}

const hostsOf = (list: typeof agents) => list.map((a) => a.url.replace(/^http:/, 'dogestry:')).join(',');
const idOn = async (engine: Dockerd, ref: string) => (await engine.docker('image', 'inspect', '-f', '{{.Id}}', ref).catch(() => '')).trim();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-fleet-'));
  const started = await Promise.allSettled([
    startRadosgw(3072).then((s) => (rgw = s)),
    ...[0, 1, 2, 3].map((i) => startDockerd().then((d) => (engines[i] = d))),
  ]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  const layers = [
    { seed: 'fleet-base-1', size: 3 * MiB },
    { seed: 'fleet-base-2', size: 2 * MiB, kind: 'text' as const },
  ];
  base = await buildImageTar(join(work, 'images'), 'fleet/base:1', layers);
  image = await buildImageTar(join(work, 'images'), 'fleet/app:1', [...layers, { seed: 'fleet-top', size: 2 * MiB }]);
  big = await buildImageTar(join(work, 'images'), 'fleet/big:1', [{ seed: 'fleet-big', size: 96 * MiB }]);
  await rgw.createBucket('fleet');
  remote = rgw.url('fleet', 'repo/');
  const pusher = engines[0] as Dockerd;
  for (const built of [image, big]) await pusher.docker('load', '-i', built.tarPath);
  for (const ref of ['fleet/app:1', 'fleet/big:1']) {
    const pushed = await deploy(['push', remote, ref, '--docker-host', pusher.host]);
    assert.equal(pushed.code, 0, pushed.stderr);
  }
  await pusher.docker('rmi', 'fleet/app:1', 'fleet/big:1');
  // One host already holds the base layers: it should fetch only the top one.
  await (engines[3] as Dockerd).docker('load', '-i', base.tarPath);
  agents = await Promise.all(engines.map((engine, i) => startAgent(engine, String(i))));
});

after(async () => {
  for (const agent of agents) await stopChild(agent.child);
  await Promise.all([...engines.map((e) => e?.stop()), rgw?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('delegated pulls onto four hosts', () => {
  it('each host pulls the image itself, only its own delta, and the deploy machine downloads no layer bytes', async () => {
    const pulled = await deploy(['pull', remote, 'fleet/app:1', '--pull-hosts', hostsOf(agents), '--json']);
    assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout);
    const result = (
      JSON.parse(pulled.stdout) as {
        pulled: {
          bytesDownloaded: number;
          engines: { engine: string; delegated?: { bytesDownloaded: number }; layersLoaded: number; layersPresent: number }[];
        }[];
      }
    ).pulled[0];
    assert.equal(result?.bytesDownloaded, 0, 'nothing came through the deploy machine');
    const cached = await readdir(join(work, 'deploy-cache', 'dogestry', 'blobs', 'sha256')).catch(() => []);
    assert.deepEqual(cached, [], 'and nothing was cached there');
    for (const engine of engines) assert.equal(await idOn(engine, 'fleet/app:1'), image.imageId);
    const byHost = result?.engines ?? [];
    assert.equal(byHost.length, 4);
    for (const host of byHost) assert.ok(host.delegated, `${host.engine} pulled for itself`);
    const full = byHost[0]?.delegated?.bytesDownloaded ?? 0;
    const delta = byHost[3]?.delegated?.bytesDownloaded ?? 0;
    assert.ok(full > 0 && delta > 0 && delta < full / 2, `the host holding the base fetched only the top layer: ${delta} of ${full}`);
    assert.deepEqual([byHost[3]?.layersPresent, byHost[3]?.layersLoaded], [2, 1]);
    for (const agent of agents)
      assert.doesNotMatch(agent.log(), /X-Amz-Signature|fleet-test-token/, 'no ticket URL or token in the server log');
  });

  it('a wrong token is refused (AUTH, exit 5), and nothing is pulled', async () => {
    const pulled = await deploy(['pull', remote, 'fleet/app:1', '--pull-hosts', hostsOf(agents.slice(0, 1)), '--json'], {
      DOGESTRY_SERVER_TOKEN: 'not-the-fleet-token-at-all',
    });
    assert.equal(pulled.code, 5, pulled.stdout);
    assert.equal((JSON.parse(pulled.stdout) as { error: { code: string } }).error.code, 'AUTH');
  });

  it('a ticket for another image is refused by the server', async () => {
    const file = join(work, 'app.ticket.json');
    const made = await deploy(['presign', remote, 'fleet/app:1', '--expires', '10m', '--output', file]);
    assert.equal(made.code, 0, made.stderr);
    const { readFile } = await import('node:fs/promises');
    const ticket = JSON.parse(await readFile(file, 'utf8')) as object;
    const response = await fetch(`${agents[0]?.url}/v1/pulls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: 'fleet/big:1', ticket }),
    });
    assert.equal(response.status, 403);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /the ticket is for fleet\/app:1/);
    const unauthenticated = await fetch(`${agents[0]?.url}/v1/info`);
    assert.equal(unauthenticated.status, 401);
  });

  it('a server killed mid-pull is reported for its host (PARTIAL, exit 10), while the others finish', async () => {
    const victim = agents[1] as (typeof agents)[number];
    const running = deploy(['pull', remote, 'fleet/big:1', '--pull-hosts', hostsOf(agents), '--json']);
    // Once the victim has started the pull, kill it.
    assert.ok(await until(async () => /pull fleet\/big:1 started/.test(victim.log()), { ms: 30_000 }), victim.log());
    await new Promise((resolve) => setTimeout(resolve, 200));
    victim.child.kill('SIGKILL');
    const pulled = await running;
    assert.equal(pulled.code, 10, pulled.stderr + pulled.stdout);
    // The report beside the error, as --json gives every failure that has one.
    const report = JSON.parse(pulled.stdout) as { error: { code: string }; engines: { engine: string; error?: { code: string } }[] };
    assert.equal(report.error.code, 'PARTIAL');
    const failed = report.engines.filter((e) => e.error).map((e) => e.engine);
    assert.deepEqual(failed, [victim.url.replace(/^http:/, 'dogestry:')]);
    for (const [i, engine] of engines.entries()) if (i !== 1) assert.equal(await idOn(engine, 'fleet/big:1'), big.imageId);
  });
});

/** A self-signed certificate for `cn` (and, for an IP, that IP as its subject alt name) in `dir`. */
async function selfSigned(dir: string, key: string, cert: string, cn: string): Promise<void> {
  const san = /^[\d.]+$/.test(cn) ? ['-addext', `subjectAltName=IP:${cn}`] : [];
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${cn}`,
    ...san,
    '-keyout',
    join(dir, key),
    '-out',
    join(dir, cert),
  ]);
}

describe('delegated pulls over TLS, and a host whose engine is down', () => {
  it('reaches a server over HTTPS with --server-ca, and hands it the ticket there', async () => {
    const dir = await mkdtemp(join(work, 'tls-'));
    await selfSigned(dir, 'key.pem', 'cert.pem', '127.0.0.1');
    const engine = engines[0] as Dockerd;
    const secure = await startAgent(engine, 'tls', ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
    try {
      assert.match(secure.url, /^https:/);
      await engine.docker('rmi', '-f', image.imageId).catch(() => '');
      const host = secure.url.replace(/^https:/, 'dogestry:');
      const untrusted = await deploy(['pull', remote, 'fleet/app:1', '--pull-hosts', host, '--json']);
      assert.notEqual(untrusted.code, 0, 'without --server-ca the client speaks plain HTTP: no server there');
      // A CA that did not sign the server's certificate: the ticket must not go.
      await selfSigned(dir, 'other-key.pem', 'other.pem', 'other');
      const wrongCa = await deploy(['pull', remote, 'fleet/app:1', '--pull-hosts', host, '--server-ca', join(dir, 'other.pem'), '--json']);
      assert.notEqual(wrongCa.code, 0, 'a certificate the given CA did not sign is refused');
      assert.doesNotMatch(secure.log(), /pull fleet\/app:1 started/, 'no pull reached the server');
      const pulled = await deploy(['pull', remote, 'fleet/app:1', '--pull-hosts', host, '--server-ca', join(dir, 'cert.pem'), '--json']);
      assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout);
      assert.equal(await idOn(engine, 'fleet/app:1'), image.imageId);
    } finally {
      await stopChild(secure.child);
    }
  });

  it('a host whose engine is down is reported for that host, with its code', async () => {
    const engine = engines[2] as Dockerd;
    const agent = agents[2] as (typeof agents)[number];
    await engine.stop();
    const pulled = await deploy([
      'pull',
      remote,
      'fleet/app:1',
      '--pull-hosts',
      hostsOf([agent, agents[0] as (typeof agents)[number]]),
      '--json',
    ]);
    assert.equal(pulled.code, 10, pulled.stderr + pulled.stdout);
    const report = JSON.parse(pulled.stdout) as { engines: { engine: string; error?: { code: string } }[] };
    assert.deepEqual(
      report.engines.map((e) => e.error?.code),
      ['ENGINE_UNREACHABLE', undefined],
    );
  });
});

describe('dogestry login', () => {
  it('stores the credentials (0600) after one read, and push and pull then work with none in the environment', async () => {
    const home = await mkdtemp(join(work, 'login-home-'));
    const bare = (args: string[], input?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(CLI, args, {
          env: { PATH: process.env.PATH ?? '', HOME: home, DOCKER_API_VERSION: '1.41', XDG_CACHE_HOME: join(home, 'cache') },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
        child.stdin.end(input ?? '');
      });
    const engine = engines[3] as Dockerd;
    const target = rgw.url('fleet', 'login/');
    const before = await bare(['push', target, 'fleet/app:1', '--docker-host', engine.host]);
    assert.equal(before.code, 5, `no credentials: AUTH\n${before.stderr}`);
    const wrong = await bare(['login', target, '--username', rgw.env.AWS_ACCESS_KEY_ID as string, '--password-stdin'], 'wrong-secret');
    assert.equal(wrong.code, 5, wrong.stderr);
    const file = join(home, '.config', 'dogestry', 'credentials.json');
    assert.equal(await stat(file).catch(() => undefined), undefined, 'nothing stored for refused credentials');
    const login = await bare(
      ['login', target, '--username', rgw.env.AWS_ACCESS_KEY_ID as string, '--password-stdin'],
      rgw.env.AWS_SECRET_ACCESS_KEY as string,
    );
    assert.equal(login.code, 0, login.stderr);
    assert.doesNotMatch(login.stdout + login.stderr, new RegExp(rgw.env.AWS_SECRET_ACCESS_KEY as string), 'the secret is never echoed');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const pushed = await bare(['push', target, 'fleet/app:1', '--docker-host', engine.host]);
    assert.equal(pushed.code, 0, pushed.stderr);
    await engine.docker('rmi', 'fleet/app:1');
    const pulled = await bare(['pull', target, 'fleet/app:1', '--docker-host', engine.host]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await idOn(engine, 'fleet/app:1'), image.imageId);
    const logout = await bare(['logout', target]);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal((await bare(['images', target])).code, 5, 'after logout: no credentials again');
  });
});
