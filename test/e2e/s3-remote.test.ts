/**
 * End to end through S3 against a real Ceph radosgw and a real dockerd: round trip, dedup,
 * concurrent pushes, presigned read-only pulls with no credentials, auth failures, a push
 * killed mid-multipart, and a layer larger than three multipart parts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { CLI, runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { assertWholeSuitePasses, SUITE_MISSING } from '../support/oci-conformance.js';
import { type Radosgw, startRadosgw } from '../support/radosgw.js';
import { startRegistryProcess } from '../support/registry-process.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';

const MiB = 1024 * 1024;
let dockerd: Dockerd;
let rgw: Radosgw;
let work: string;
const images: SyntheticImage[] = [];
let bucket = 0;

const shared = [
  { seed: 's3-base-1', size: 3 * MiB },
  { seed: 's3-base-2', size: 1 * MiB, kind: 'text' as const },
];

/** The CLI with S3 credentials in its environment (and nothing else of AWS). */
function cli(args: string[], extraEnv: Record<string, string> = {}) {
  return runCli([...args, '--docker-host', dockerd.host], {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: work,
      XDG_CACHE_HOME: join(work, `cache-${Math.random()}`),
      DOCKER_API_VERSION: '1.41',
      ...rgw.env,
      ...extraEnv,
    },
  });
}

async function newBucket(): Promise<string> {
  const name = `bucket-${++bucket}`;
  await rgw.createBucket(name);
  return name;
}

async function keys(name: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await rgw.client.send(
      new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

const inspectId = async (ref: string): Promise<string> => (await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', ref)).trim();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-e2e-s3-'));
  // Both settle before a failure is thrown, so after() stops whichever did start.
  const started = await Promise.allSettled([startDockerd().then((d) => (dockerd = d)), startRadosgw(3072).then((s) => (rgw = s))]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  for (const n of [1, 2, 3, 4]) {
    const image = await buildImageTar(join(work, 'images'), `svc-${n}:1`, [...shared, { seed: `s3-top-${n}`, size: 2 * MiB }]);
    images.push(image);
    await dockerd.docker('load', '-i', image.tarPath);
  }
});

after(async () => {
  await Promise.all([dockerd?.stop(), rgw?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('s3 remote against radosgw', () => {
  it('round trip: push, list, remove, pull', async () => {
    const remote = rgw.url(await newBucket(), 'docker-repo/');
    const pushed = await cli(['push', remote, 'svc-1:1']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const listed = await cli(['images', remote, '--json']);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { images: { name: string; imageId: string }[] }).images.map((i) => [i.name, i.imageId]),
      [['svc-1', images[0]?.imageId]],
    );
    await dockerd.docker('rmi', 'svc-1:1');
    // Into one engine, the layers stream from the bucket straight into its load: no cache copy.
    const cacheDir = join(work, 'cache-round-trip');
    const pulled = await cli(['pull', remote, 'svc-1:1', '--cache-dir', cacheDir, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('svc-1:1'), images[0]?.imageId);
    // The engine still holds the base layers the other images share: the top one (2 MiB, random) came.
    const report = JSON.parse(pulled.stdout) as { pulled: { bytesDownloaded: number }[] };
    assert.ok((report.pulled[0]?.bytesDownloaded ?? 0) > 2 * MiB, pulled.stdout);
    assert.deepEqual(await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []), []);
  });

  it('dedup: a second image writes only its new layer (checked by listing the bucket)', async () => {
    const name = await newBucket();
    const remote = rgw.url(name, 'r/');
    assert.equal((await cli(['push', remote, 'svc-1:1'])).code, 0);
    const before = new Set(await keys(name, 'r/blobs/'));
    const second = await cli(['push', remote, 'svc-2:1', '--json']);
    assert.equal(second.code, 0, second.stderr);
    const result = (JSON.parse(second.stdout) as { pushed: { imageId: string; manifestDigest: string }[] }).pushed[0];
    const added = (await keys(name, 'r/blobs/')).filter((k) => !before.has(k));
    const top = `r/blobs/sha256/${String(images[1]?.diffIds[2]).slice(7)}`;
    assert.deepEqual(
      added.sort(),
      [top, `r/blobs/sha256/${result?.imageId.slice(7)}`, `r/blobs/sha256/${result?.manifestDigest.slice(7)}`].sort(),
    );
    assert.deepEqual(await keys(name, 'r/tmp/'), [], 'no temporary objects left');
  });

  it('four concurrent pushes of images sharing layers all verify', async () => {
    const remote = rgw.url(await newBucket(), 'c/');
    const results = await Promise.all([1, 2, 3, 4].map((n) => cli(['push', remote, `svc-${n}:1`])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const verified = await cli(['verify', remote]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /ok: 4 tags, 14 blobs/);
  });

  it('a wrong secret is AUTH with its exit code, and nothing is written', async () => {
    const name = await newBucket();
    const result = await cli(['push', rgw.url(name, 'x/'), 'svc-1:1'], { AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /AUTH/);
    assert.doesNotMatch(result.stderr + result.stdout, /not-the-secret|dogestry-test-secret/);
    assert.deepEqual(await keys(name), []);
  });

  it('reads the seed credential names AWS_ACCESS_KEY / AWS_SECRET_KEY', async () => {
    const remote = rgw.url(await newBucket(), 'seed/');
    const result = await runCli(['push', remote, 'svc-1:1', '--docker-host', dockerd.host], {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: work,
        AWS_ACCESS_KEY: rgw.accessKeyId,
        AWS_SECRET_KEY: rgw.secretAccessKey,
        DOCKER_API_VERSION: '1.41',
      },
    });
    assert.equal(result.code, 0, result.stderr);
  });

  it('anonymous=true pulls a public bucket unsigned, and cannot push', async () => {
    const name = await newBucket();
    assert.equal((await cli(['push', rgw.url(name, 'pub/'), 'svc-1:1'])).code, 0);
    await rgw.client.send(
      new PutBucketPolicyCommand({
        Bucket: name,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${name}/*`] },
            { Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${name}`] },
          ],
        }),
      }),
    );
    const anonymous = `${rgw.url(name, 'pub/')}&anonymous=true`;
    const home = await mkdtemp(join(work, 'anon-'));
    const env = { PATH: process.env.PATH ?? '', HOME: home, DOCKER_API_VERSION: '1.41' };
    await dockerd.docker('rmi', 'svc-1:1');
    const pulled = await runCli(['pull', anonymous, 'svc-1:1', '--docker-host', dockerd.host], { cwd: home, env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('svc-1:1'), images[0]?.imageId);
    const pushed = await runCli(['push', anonymous, 'svc-2:1', '--docker-host', dockerd.host], { cwd: home, env });
    assert.equal(pushed.code, 6, pushed.stderr);
    assert.match(pushed.stderr, /read-only.*READ_ONLY/);
  });

  it('a layer larger than three multipart parts round-trips', async () => {
    const big = await buildImageTar(join(work, 'images'), 'bigpart:1', [{ seed: 's3-bigpart', size: 72 * MiB }]);
    await dockerd.docker('load', '-i', big.tarPath);
    const remote = rgw.url(await newBucket(), 'big/');
    const pushed = await cli(['push', remote, 'bigpart:1', '--compression', 'none']);
    assert.equal(pushed.code, 0, pushed.stderr);
    await dockerd.docker('rmi', 'bigpart:1');
    const pulled = await cli(['pull', remote, 'bigpart:1']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('bigpart:1'), big.imageId);
  });

  it('a push killed mid-multipart leaves no tag and no partial object at a final key; the next push completes', async () => {
    const crash = await buildImageTar(join(work, 'images'), 'crash:1', [{ seed: 's3-crash', size: 160 * MiB }]);
    await dockerd.docker('load', '-i', crash.tarPath);
    const name = await newBucket();
    const remote = rgw.url(name, 'k/');
    const child = spawn(CLI, ['push', remote, 'crash:1', '--docker-host', dockerd.host, '--compression', 'none'], {
      cwd: work,
      env: { ...process.env, ...rgw.env },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const uploads = await rgw.client.send(new ListMultipartUploadsCommand({ Bucket: name }));
      if ((uploads.Uploads ?? []).length > 0) break;
      assert.ok(Date.now() < deadline, 'the push never started a multipart upload');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const left = await keys(name);
    assert.deepEqual(
      left.filter((k) => k.startsWith('k/repositories/') || k.startsWith('k/images/')),
      [],
    );
    assert.deepEqual(
      left.filter((k) => k.startsWith('k/blobs/')),
      [],
      'no layer visible at its final key',
    );

    const retry = await cli(['push', remote, 'crash:1', '--compression', 'none']);
    assert.equal(retry.code, 0, retry.stderr);
    const verified = await cli(['verify', remote]);
    assert.equal(verified.code, 0, verified.stderr);
  });
});

describe('the registry face over a bucket', () => {
  it('passes the whole OCI conformance suite with 0 failures', { skip: SUITE_MISSING }, async () => {
    const remote = rgw.url(await newBucket(), 'registry/');
    await assertWholeSuitePasses(
      remote,
      { PATH: process.env.PATH ?? '', HOME: work, ...rgw.env },
      'conformance/s3',
      join(work, 'conformance-s3'),
    );
  });

  it('docker push into it, then dogestry pull loads the image from the bucket with the same image ID', async () => {
    const name = await newBucket();
    const remote = rgw.url(name, 'pushed/');
    const registry = await startRegistryProcess(remote, [], { PATH: process.env.PATH ?? '', HOME: work, ...rgw.env });
    try {
      await dockerd.docker('tag', 'svc-3:1', `${registry.host}/team/svc:3`);
      await dockerd.docker('push', `${registry.host}/team/svc:3`);
    } finally {
      await registry.stop();
    }
    await dockerd.docker('rmi', '-f', images[2]?.imageId as string);
    const pulled = await cli(['pull', remote, 'team/svc:3']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('team/svc:3'), images[2]?.imageId);
    const stored = await keys(name, 'pushed/blobs/');
    assert.equal(stored.length, 5, 'manifest, config and three gzip layers, as docker pushed them');
    assert.deepEqual(await keys(name, 'pushed/tmp/'), [], 'no upload left behind');
  });
});

describe('presigned read-only pulls', () => {
  let remote: string;
  before(async () => {
    remote = rgw.url(await newBucket(), 'deploy/');
    for (const n of [1, 2]) assert.equal((await cli(['push', remote, `svc-${n}:1`])).code, 0);
  });
  beforeEach(async () => {
    for (const image of images.slice(0, 2)) await dockerd.docker('load', '-i', image.tarPath);
  });

  /** A deploy host: no AWS variables, a HOME with no AWS config. */
  async function deployHost(args: string[]) {
    const home = await mkdtemp(join(work, 'home-'));
    return runCli([...args, '--docker-host', dockerd.host], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, DOCKER_API_VERSION: '1.41' },
    });
  }

  it('pulls through ONE printed URL with no credentials at all', async () => {
    const made = await cli(['presign', remote, 'svc-1:1', '--expires', '1h']);
    assert.equal(made.code, 0, made.stderr);
    const url = made.stdout.trim();
    assert.equal(url.split('\n').length, 1);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);
    assert.doesNotMatch(made.stdout + made.stderr, /dogestry-test-secret/);
    await dockerd.docker('rmi', 'svc-1:1');
    const pulled = await deployHost(['pull', url, 'svc-1:1']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('svc-1:1'), images[0]?.imageId);
  });

  it('dogestry registry serves docker pull from the bucket, and from a ticket for exactly its image', async () => {
    await dockerd.docker('rmi', 'svc-1:1');
    const fromBucket = await startRegistryProcess(remote, [], {
      PATH: process.env.PATH ?? '',
      HOME: work,
      ...rgw.env,
    });
    try {
      await dockerd.docker('pull', `${fromBucket.host}/svc-1:1`);
      assert.equal(await inspectId(`${fromBucket.host}/svc-1:1`), images[0]?.imageId);
    } finally {
      await fromBucket.stop();
    }
    const url = (await cli(['presign', remote, 'svc-1:1', '--expires', '1h'])).stdout.trim();
    const home = await mkdtemp(join(work, 'home-'));
    const fromTicket = await startRegistryProcess(url, [], { PATH: process.env.PATH ?? '', HOME: home });
    try {
      await dockerd.docker('rmi', `${fromBucket.host}/svc-1:1`);
      await dockerd.docker('pull', `${fromTicket.host}/svc-1:1`);
      assert.equal(await inspectId(`${fromTicket.host}/svc-1:1`), images[0]?.imageId);
      await assert.rejects(dockerd.docker('pull', `${fromTicket.host}/svc-2:1`), /not found|unknown/i, 'the ticket reads one image');
    } finally {
      const log = await fromTicket.stop();
      assert.doesNotMatch(log, /X-Amz-Signature/, 'the log holds no presigned URL');
    }
  });

  it('pulls from a ticket file written with --output', async () => {
    const file = join(work, 'svc-1.ticket.json');
    assert.equal((await cli(['presign', remote, 'svc-1:1', '--expires', '10m', '--output', file])).code, 0);
    await dockerd.docker('rmi', 'svc-1:1');
    const pulled = await deployHost(['pull', file, 'svc-1:1']);
    assert.equal(pulled.code, 0, pulled.stderr);
  });

  it('refuses a tampered ticket URL with AUTH', async () => {
    const url = (await cli(['presign', remote, 'svc-1:1', '--expires', '1h'])).stdout.trim();
    const tampered = url.replace(/(X-Amz-Signature=)([0-9a-f])/, (_m, p, c) => `${p}${c === 'a' ? 'b' : 'a'}`);
    const result = await deployHost(['pull', tampered, 'svc-1:1']);
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /AUTH/);
  });

  it('refuses an expired ticket, saying that it expired and when', async () => {
    const file = join(work, 'expired.ticket.json');
    assert.equal((await cli(['presign', remote, 'svc-1:1', '--expires', '1s', '--output', file])).code, 0);
    const url = (await cli(['presign', remote, 'svc-1:1', '--expires', '1s'])).stdout.trim();
    await new Promise((r) => setTimeout(r, 2500));
    for (const ticket of [file, url]) {
      const result = await deployHost(['pull', ticket, 'svc-1:1']);
      assert.equal(result.code, 5, result.stderr);
      assert.match(result.stderr, /expired at \d{4}-\d\d-\d\dT.*EXPIRED/);
    }
  });

  it('a ticket for image A cannot read image B', async () => {
    const file = join(work, 'a.ticket.json');
    assert.equal((await cli(['presign', remote, 'svc-1:1', '--expires', '1h', '--output', file])).code, 0);
    await dockerd.docker('rmi', 'svc-2:1');
    const other = await deployHost(['pull', file, 'svc-2:1']);
    assert.equal(other.code, 3, other.stderr);
    assert.match(other.stderr, /svc-2:1 is not on ticket for svc-1:1.*NOT_FOUND/);

    // Rewrite A's tag URL to point at B's tag: the signature no longer matches.
    const ticket = JSON.parse(await readFile(file, 'utf8')) as { objects: Record<string, string> };
    ticket.objects['repositories/svc-2/1'] = (ticket.objects['repositories/svc-1/1'] as string).replace(
      '/repositories/svc-1/1',
      '/repositories/svc-2/1',
    );
    await writeFile(file, JSON.stringify(ticket));
    const forged = await deployHost(['pull', file, 'svc-2:1']);
    assert.equal(forged.code, 5, forged.stderr);
    assert.match(forged.stderr, /AUTH/);
  });

  it('refuses --expires beyond SigV4 7 days with a clear message', async () => {
    const result = await cli(['presign', remote, 'svc-1:1', '--expires', '8d']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /longer than 7 days/);
  });

  it('needs no HOME config and rejects presign on a remote that cannot sign', async () => {
    await mkdir(join(work, 'plain'), { recursive: true });
    const result = await cli(['presign', join(work, 'plain'), 'svc-1:1']);
    assert.equal(result.code, 6, result.stderr);
    assert.match(result.stderr, /cannot presign/);
  });
});
