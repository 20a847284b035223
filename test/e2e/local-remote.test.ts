/**
 * End to end through a directory remote, against a real dockerd started for this file.
 * Images are synthetic (made here, loaded with `docker load`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DigestMismatchError, type PullResult, pull, push } from '@dogestry/core';
import { buildLoadTar, DockerApiEngine } from '@dogestry/core/internal';
import { CLI, runCli } from '../support/cli.js';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { RecordingEngine } from '../support/recording-engine.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';
import { keysUnder, snapshot } from '../support/tree.js';
import { until } from '../support/wait.js';

const MiB = 1024 * 1024;
const base1 = { seed: 'base-1', size: 3 * MiB };
const base2 = { seed: 'base-2', size: 2 * MiB, kind: 'text' as const };

let dockerd: Dockerd;
let work: string;
let imageA: SyntheticImage;
let imageB: SyntheticImage;

const inspectId = async (ref: string): Promise<string> => (await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', ref)).trim();
const inspectLayers = async (ref: string): Promise<string> =>
  (await dockerd.docker('image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref)).trim();
const imageIds = async (): Promise<string[]> => (await dockerd.docker('images', '-q', '--no-trunc')).split('\n').filter(Boolean).sort();
/** Layers the engine has applied (its layer store on the vfs driver the tests use). */
const engineLayers = async (): Promise<string[]> =>
  (await readdir(join(dockerd.dir, 'root', 'image', 'vfs', 'layerdb', 'sha256')).catch(() => [])).sort();
const cli = (cwd: string, ...args: string[]) => runCli([...args, '--docker-host', dockerd.host], { cwd });

async function freshDir(name: string): Promise<string> {
  return mkdtemp(join(work, `${name}-`));
}

async function loadImage(image: SyntheticImage): Promise<void> {
  await dockerd.docker('load', '-i', image.tarPath);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-e2e-local-'));
  dockerd = await startDockerd();
  imageA = await buildImageTar(join(work, 'images'), 'app-a:1.0', [base1, base2, { seed: 'top-a', size: 1 * MiB }]);
  imageB = await buildImageTar(join(work, 'images'), 'app-b:2.0', [base1, base2, { seed: 'top-b', size: 1 * MiB }]);
});

beforeEach(async () => {
  // Every test starts from an engine holding A and B.
  await loadImage(imageA);
  await loadImage(imageB);
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('round trip through the CLI', () => {
  it('pushes, removes, pulls by tag and by id prefix, and lists', async () => {
    const cwd = await freshDir('rt');
    const remoteDir = join(cwd, 'images');
    assert.equal((await runCli(['remote', 'add', 'central', remoteDir], { cwd })).code, 0);
    assert.match(await readFile(join(cwd, 'dogestry.cfg'), 'utf8'), /\[remote "central"\]\s+url = file:\/\//);

    const pushed = await cli(cwd, 'push', 'central', 'app-a:1.0');
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /pushed app-a:1.0 .* 3 of 3 layers uploaded/);

    const images = await cli(cwd, 'images', 'central');
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, new RegExp(`app-a:1.0\\s+${imageA.imageId.slice(7, 19)}\\s+\\d`));
    const json = JSON.parse((await cli(cwd, 'images', 'central', '--json')).stdout) as {
      images: { name: string; tag: string; imageId: string; pushedAt?: string }[];
    };
    assert.deepEqual(
      json.images.map((i) => [i.name, i.tag, i.imageId]),
      [['app-a', '1.0', imageA.imageId]],
    );
    assert.ok(json.images[0]?.pushedAt, 'pushedAt is reported');
    const tags = await cli(cwd, 'tags', 'central', 'app-a');
    assert.equal(tags.stdout.trim(), '1.0');

    await dockerd.docker('rmi', 'app-a:1.0');
    const pulled = await cli(cwd, 'pull', 'central', 'app-a:1.0');
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('app-a:1.0'), imageA.imageId);
    assert.equal(await inspectLayers('app-a:1.0'), JSON.stringify(imageA.diffIds));

    await dockerd.docker('rmi', 'app-a:1.0');
    const byId = await cli(cwd, 'pull', 'central', imageA.imageId.slice(7, 13), '--as', 'app-a:by-id');
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal(await inspectId('app-a:by-id'), imageA.imageId);
    await dockerd.docker('tag', 'app-a:by-id', 'app-a:1.0');
    await dockerd.docker('rmi', 'app-a:by-id');

    const verified = await cli(cwd, 'verify', 'central');
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /ok: 1 tags, 5 blobs/);
  });
});

describe('dedup', () => {
  it('writes only the layer the remote lacks, and nothing at all for a repeat push', async () => {
    const remote = join(await freshDir('dedup'), 'images');
    const first = await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    assert.equal(first.layers.filter((l) => l.result === 'uploaded').length, 3);
    const before = await snapshot(remote);

    const second = await push({ remote, image: 'app-b:2.0', dockerHost: dockerd.host });
    const afterB = await snapshot(remote);
    const newBlobs = keysUnder(afterB, 'blobs/').filter((k) => !before.has(k));
    // B's one new layer, its config and its manifest.
    const newLayer = `blobs/sha256/${(imageB.diffIds[2] as string).slice(7)}`;
    assert.ok(newBlobs.includes(newLayer), 'the new layer was written');
    assert.deepEqual(
      newBlobs.filter((k) => !k.endsWith(imageB.imageId.slice(7)) && k !== `blobs/sha256/${second.manifestDigest.slice(7)}`),
      [newLayer],
    );
    assert.deepEqual(
      second.layers.map((l) => l.result),
      ['present', 'present', 'uploaded'],
    );

    const again = await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    assert.equal(again.tagUpdated, false);
    assert.equal(again.bytesWritten, 0);
    assert.deepEqual(await snapshot(remote), afterB, 'a repeat push changes no file, the tag included');
  });
});

describe('delta load', () => {
  it('sends only the missing layer to an engine that holds the base, and all to an empty one', async () => {
    const remote = join(await freshDir('delta'), 'images');
    await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    await push({ remote, image: 'app-b:2.0', dockerHost: dockerd.host });
    await dockerd.docker('rmi', 'app-b:2.0');

    const engine = new RecordingEngine(new DockerApiEngine(dockerd.host));
    const cacheDir = await freshDir('cache');
    const delta = await pull({ remote, image: 'app-b:2.0', engine, cacheDir });
    const bTop = (imageB.diffIds[2] as string).slice(7);
    assert.deepEqual(
      engine.loads[0]?.filter((n) => n.endsWith('layer.tar')),
      [`${bTop}/layer.tar`],
    );
    assert.equal(delta.engines[0]?.layersPresent, 2);
    assert.equal(await inspectId('app-b:2.0'), imageB.imageId);

    // Empty the engine, then pull again: every layer goes in, each read from the directory
    // straight into the load (a pull into one engine skips the cache).
    await dockerd.docker('rmi', 'app-a:1.0', 'app-b:2.0');
    assert.deepEqual(await imageIds(), []);
    const results = new Map<string, string>();
    await pull({
      remote,
      image: 'app-b:2.0',
      engine,
      cacheDir,
      onProgress: (e) => {
        if (e.type === 'layer-done') results.set(e.diffId, e.result);
      },
    });
    assert.deepEqual(
      imageB.diffIds.map((d) => results.get(d)),
      ['downloaded', 'downloaded', 'downloaded'],
    );
    assert.deepEqual(await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []), [], 'no cache copy');
    assert.deepEqual(
      engine.loads[1]?.filter((n) => n.endsWith('layer.tar')).sort(),
      imageB.diffIds.map((d) => `${d.slice(7)}/layer.tar`).sort(),
    );
    assert.equal(await inspectLayers('app-b:2.0'), JSON.stringify(imageB.diffIds));
  });
});

describe('several engines', () => {
  it('--pull-hosts with one unreachable host loads the others, reports each host, and exits 10 (PARTIAL)', async () => {
    const second = await startDockerd();
    try {
      const cwd = await freshDir('partial');
      const remote = join(cwd, 'images');
      await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
      await dockerd.docker('rmi', 'app-a:1.0');
      const dead = `unix://${cwd}/no-engine.sock`;
      const hosts = [dockerd.host, dead, second.host];
      const result = await runCli(
        ['pull', remote, 'app-a:1.0', '--pull-hosts', hosts.join(','), '--json', '--cache-dir', join(cwd, 'cache')],
        {
          cwd,
        },
      );
      assert.equal(result.code, 10, result.stderr);
      const report = JSON.parse(result.stdout) as { engines: { engine: string; error?: { code: string } }[]; error: { code: string } };
      assert.equal(report.error.code, 'PARTIAL');
      assert.deepEqual(
        report.engines.map((e) => [e.engine, e.error?.code]),
        [
          [dockerd.host, undefined],
          [dead, 'ENGINE_UNREACHABLE'],
          [second.host, undefined],
        ],
      );
      assert.equal(await inspectId('app-a:1.0'), imageA.imageId);
      assert.equal((await second.docker('image', 'inspect', '-f', '{{.Id}}', 'app-a:1.0')).trim(), imageA.imageId);

      const text = await runCli(['pull', remote, 'app-a:1.0', '--pull-hosts', hosts.join(','), '--cache-dir', join(cwd, 'cache')], { cwd });
      assert.equal(text.code, 10);
      assert.match(text.stderr, /into 2 of 3 engines; failed: unix:\/\/.*no-engine\.sock \(ENGINE_UNREACHABLE/);
    } finally {
      await second.stop();
    }
  });

  it('--pull-hosts loads each engine with what it lacks, from one download', async () => {
    const second = await startDockerd();
    try {
      const cwd = await freshDir('hosts');
      const remote = join(cwd, 'images');
      await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
      // The first engine keeps B (it shares A's two bottom layers); the second is empty.
      await dockerd.docker('rmi', 'app-a:1.0');
      const result = await runCli(
        ['pull', remote, 'app-a:1.0', '--pull-hosts', `${dockerd.host},${second.host}`, '--json', '--cache-dir', join(cwd, 'cache')],
        { cwd },
      );
      assert.equal(result.code, 0, result.stderr);
      const pulled = (JSON.parse(result.stdout) as { pulled: PullResult[] }).pulled[0];
      assert.deepEqual(
        pulled?.engines.map((e) => [e.engine, e.layersLoaded, e.layersPresent]),
        [
          [dockerd.host, 1, 2],
          [second.host, 3, 0],
        ],
      );
      const stored = await Promise.all(imageA.diffIds.map(async (d) => (await stat(join(remote, 'blobs', 'sha256', d.slice(7)))).size));
      assert.equal(
        pulled?.bytesDownloaded,
        stored.reduce((a, b) => a + b, 0),
        'each layer downloaded once',
      );
      assert.equal(await inspectLayers('app-a:1.0'), JSON.stringify(imageA.diffIds));
      assert.equal(
        (await second.docker('image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'app-a:1.0')).trim(),
        JSON.stringify(imageA.diffIds),
      );
    } finally {
      await second.stop();
    }
  });
});

describe('integrity', () => {
  for (const which of ['layer', 'config', 'manifest'] as const) {
    it(`refuses a flipped byte in the ${which}: nothing is loaded, and verify names it`, async () => {
      const cwd = await freshDir(`flip-${which}`);
      const remote = join(cwd, 'images');
      const pushed = await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host, compression: which === 'layer' ? 'none' : 'lz4' });
      // A's top layer: B (on the engine) shares the others, so this is the one pull downloads.
      const hex = {
        layer: (imageA.diffIds[2] as string).slice(7),
        config: imageA.imageId.slice(7),
        manifest: pushed.manifestDigest.slice(7),
      }[which];
      const path = join(remote, 'blobs', 'sha256', hex);
      const bytes = await readFile(path);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0x01;
      await writeFile(path, bytes);

      await dockerd.docker('rmi', 'app-a:1.0');
      const before = await imageIds();
      const layersBefore = await engineLayers();
      assert.ok(layersBefore.length >= 3, 'the engine holds B, whose layers A shares');
      const result = await cli(cwd, 'pull', remote, 'app-a:1.0');
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /DIGEST_MISMATCH/);
      assert.match(result.stderr, new RegExp(hex));
      assert.deepEqual(await imageIds(), before, 'no image loaded');
      assert.deepEqual(await engineLayers(), layersBefore, 'no layer applied');

      const verified = await cli(cwd, 'verify', remote);
      assert.equal(verified.code, 4);
      assert.match(verified.stderr, new RegExp(`digest-mismatch: blobs/sha256/${hex}`));
    });
  }

  it('refuses a corrupt lz4 layer as DIGEST_MISMATCH too', async () => {
    const cwd = await freshDir('flip-lz4');
    const remote = join(cwd, 'images');
    await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    const path = join(remote, 'blobs', 'sha256', (imageA.diffIds[2] as string).slice(7));
    const bytes = await readFile(path);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff;
    await writeFile(path, bytes);
    await dockerd.docker('rmi', 'app-a:1.0');
    const result = await cli(cwd, 'pull', remote, 'app-a:1.0');
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /DIGEST_MISMATCH/);
  });

  it('a load tar cut mid-layer is refused whole: no image, no layer, nothing left behind', async () => {
    // What streaming pulls rely on: an engine reads the whole load tar before it applies any
    // layer, and drops it all when the body is cut. Here the first layer is complete and the
    // second is cut halfway, as when a layer fails verification while it streams.
    const remote = join(await freshDir('cut'), 'images');
    await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    const config = await readFile(join(remote, 'blobs', 'sha256', imageA.imageId.slice(7)));
    await dockerd.docker('rmi', 'app-a:1.0', 'app-b:2.0');
    const root = join(dockerd.dir, 'root');
    assert.deepEqual(await imageIds(), []);
    const layersBefore = await engineLayers();
    const layers = await Promise.all(
      imageA.diffIds.map(async (diffId, i) => ({ diffHex: diffId.slice(7), bytes: await readFile(imageA.layerPaths[i] as string) })),
    );
    let served = 0;
    const tar = buildLoadTar(
      imageA.imageId.slice(7),
      config,
      layers.map(({ diffHex, bytes }, i) => ({
        diffHex,
        size: bytes.length,
        open: () => ({
          read: async (position: number, length: number) => {
            const end = i === 1 ? Math.floor(bytes.length / 2) : bytes.length;
            if (position >= end) throw new DigestMismatchError(`blobs/sha256/${diffHex}`, 'sha256:x', 'sha256:y');
            const chunk = bytes.subarray(position, Math.min(position + length, end));
            served += chunk.length;
            return chunk;
          },
          close: async () => {},
        }),
      })),
    );
    // The load fails with the body's own error (the layer that failed its check).
    await assert.rejects(new DockerApiEngine(dockerd.host).load(tar), /is corrupt: expected sha256:x/);
    assert.ok(served > (layers[0]?.bytes.length ?? 0), 'the engine was sent the first layer whole and part of the second');
    assert.deepEqual(await imageIds(), [], 'no image');
    assert.deepEqual(await engineLayers(), layersBefore, 'no layer applied');
    // The engine removes its import directory when its handler returns, just after the cut.
    assert.ok(await until(async () => (await readdir(join(root, 'tmp'))).length === 0), 'no import left in the engine temp dir');
  });
});

describe('crash safety', () => {
  it('a push killed mid-layer leaves no tag, and the next push completes', async () => {
    const cwd = await freshDir('crash');
    const remote = join(cwd, 'images');
    const big = await buildImageTar(join(work, 'images'), 'big:1', [
      { seed: 'big-1', size: 96 * MiB },
      { seed: 'big-2', size: 64 * MiB },
    ]);
    await loadImage(big);
    const child = spawn(CLI, ['push', remote, 'big:1', '--docker-host', dockerd.host, '--compression', 'none'], {
      cwd,
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Kill it once layer bytes are landing in the remote's temporary area.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const tmpFiles = await readdir(join(remote, '.dogestry-tmp')).catch(() => []);
      const tree = await snapshot(remote);
      const inFlight = [...tree].some(([k, v]) => k.startsWith('.dogestry-tmp/') && Number(v.split('@')[0]) > 4 * MiB);
      if (tmpFiles.length > 0 && inFlight) break;
      assert.ok(Date.now() < deadline, 'the push never started writing');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const crashed = await snapshot(remote);
    assert.deepEqual(keysUnder(crashed, 'repositories/'), [], 'no tag after a crash');
    assert.deepEqual(keysUnder(crashed, 'images/'), [], 'no image pointer after a crash');

    const retry = await cli(cwd, 'push', remote, 'big:1');
    assert.equal(retry.code, 0, retry.stderr);
    const verified = await cli(cwd, 'verify', remote);
    assert.equal(verified.code, 0, verified.stderr);
    assert.deepEqual(keysUnder(await snapshot(remote), 'repositories/'), ['repositories/big/1']);
    await dockerd.docker('rmi', 'big:1');
  });
});

describe('bad input', () => {
  const cases: [string, string[], RegExp, number][] = [
    ['a name with ..', ['push', '<remote>', '../x'], /INVALID_REFERENCE/, 2],
    ['an uppercase name', ['push', '<remote>', 'UPPER'], /INVALID_REFERENCE/, 2],
    ['an empty tag', ['push', '<remote>', 'app-a:'], /INVALID_REFERENCE/, 2],
    ['a bare image id without --as', ['push', '<remote>', `sha256:${'0'.repeat(64)}`], /is an image id.*--as.*INVALID_REFERENCE/, 2],
    ['an unknown alias', ['push', 'nosuchalias', 'app-a:1.0'], /no remote named "nosuchalias".*CONFIG/, 2],
    ['a missing image', ['push', '<remote>', 'not-here:1'], /not on the engine.*NOT_FOUND/, 3],
    ['an unknown transport', ['push', 'ftp://host/x', 'app-a:1.0'], /UNKNOWN_TRANSPORT/, 2],
    ['a pull from a directory that does not exist', ['pull', '<remote>', 'app-a:nope'], /holds no dogestry repository.*NOT_FOUND/, 3],
    ['images of a directory that does not exist', ['images', '<remote>'], /holds no dogestry repository.*NOT_FOUND/, 3],
    ['an empty --as', ['push', '<remote>', 'app-a:1.0', '--as', ''], /invalid image name "".*INVALID_REFERENCE/, 2],
    ['a file URL naming another host', ['pull', 'file://otherhost/x', 'app-a:1.0'], /not a local file URL.*INVALID_REFERENCE/, 2],
  ];
  for (const [what, args, message, code] of cases) {
    it(`${what}: clear message, exit ${code}, nothing written`, async () => {
      const cwd = await freshDir('bad');
      const remote = join(cwd, 'images');
      const before = await imageIds();
      const result = await cli(cwd, ...args.map((a) => (a === '<remote>' ? remote : a)));
      assert.equal(result.code, code, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, message);
      assert.deepEqual(
        [...(await snapshot(cwd)).keys()].filter((k) => !k.startsWith('.cache')),
        [],
        'nothing written',
      );
      assert.deepEqual(await imageIds(), before, 'engine untouched');
    });
  }

  it('an unreachable engine: ENGINE_UNREACHABLE, exit 8, nothing written', async () => {
    const cwd = await freshDir('bad-engine');
    const result = await runCli(['push', join(cwd, 'images'), 'app-a:1.0', '--docker-host', `unix://${cwd}/no.sock`], { cwd });
    assert.equal(result.code, 8, result.stderr);
    assert.match(result.stderr, /cannot reach the Docker engine at unix:\/\/.*no\.sock.*ENGINE_UNREACHABLE/);
    assert.deepEqual([...(await snapshot(cwd)).keys()], []);
  });

  it('--json reports errors as an object with the stable code', async () => {
    const cwd = await freshDir('bad-json');
    const result = await cli(cwd, 'push', join(cwd, 'images'), '../x', '--json');
    assert.equal(result.code, 2);
    assert.equal((JSON.parse(result.stdout) as { error: { code: string } }).error.code, 'INVALID_REFERENCE');
  });
});

describe("Docker's names", () => {
  it('docker.io/library/nginx and nginx are one name; a registry port is refused with a pointer to --as', async () => {
    const cwd = await freshDir('names');
    const remote = join(cwd, 'images');
    await dockerd.docker('tag', 'app-a:1.0', 'docker.io/library/nginx:1');
    await dockerd.docker('tag', 'app-a:1.0', 'localhost:5000/foo:1');
    const pushed = await cli(cwd, 'push', remote, 'docker.io/library/nginx:1');
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.ok((await stat(join(remote, 'repositories', 'nginx', '1'))).isFile(), "stored under Docker's short form");
    await dockerd.docker('rmi', 'nginx:1');
    const pulled = await cli(cwd, 'pull', remote, 'nginx:1');
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await inspectId('docker.io/library/nginx:1'), imageA.imageId);

    const refused = await cli(cwd, 'push', remote, 'localhost:5000/foo:1');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /registry localhost:5000.*--as \(for example --as foo:TAG\)/);
    const renamed = await cli(cwd, 'push', remote, 'localhost:5000/foo:1', '--as', 'foo:1');
    assert.equal(renamed.code, 0, renamed.stderr);
    await dockerd.docker('rmi', 'localhost:5000/foo:1');
  });
});

describe('hostile remotes', () => {
  it('a symlink inside the remote: push and pull refuse it (UNSAFE_REMOTE, exit 4), nothing written outside', async () => {
    const cwd = await freshDir('symlink');
    const remote = join(cwd, 'images');
    const outside = await freshDir('outside');
    await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    await symlink(outside, join(remote, 'repositories', 'victim'));
    const pushed = await cli(cwd, 'push', remote, 'app-a:1.0', '--as', 'victim:x');
    assert.equal(pushed.code, 4, pushed.stderr);
    assert.match(pushed.stderr, /symlink inside the remote.*UNSAFE_REMOTE/);
    assert.deepEqual(await readdir(outside), []);

    await writeFile(join(outside, 'secret'), 'sha256:not-yours\n');
    await dockerd.docker('rmi', 'app-a:1.0');
    const before = await imageIds();
    const pulled = await cli(cwd, 'pull', remote, 'victim:secret');
    assert.equal(pulled.code, 4, pulled.stderr);
    assert.deepEqual(await imageIds(), before, 'nothing loaded');
  });

  it('a manifest with a null layer and a config whose diff_ids disagree: FORMAT (exit 4), nothing loaded, verify names both', async () => {
    const cwd = await freshDir('hostile');
    const remote = join(cwd, 'images');
    const pushed = await push({ remote, image: 'app-a:1.0', dockerHost: dockerd.host });
    const manifest = JSON.parse(await readFile(join(remote, 'blobs', 'sha256', pushed.manifestDigest.slice(7)), 'utf8'));
    const config = JSON.parse(await readFile(join(remote, 'blobs', 'sha256', pushed.imageId.slice(7)), 'utf8'));
    const store = async (value: unknown): Promise<{ hex: string; size: number }> => {
      const bytes = Buffer.from(JSON.stringify(value));
      const hex = createHash('sha256').update(bytes).digest('hex');
      await writeFile(join(remote, 'blobs', 'sha256', hex), bytes);
      return { hex, size: bytes.length };
    };
    const tag = async (name: string, hex: string) => {
      await mkdir(join(remote, 'repositories', name), { recursive: true });
      await writeFile(join(remote, 'repositories', name, '1'), `sha256:${hex}\n`);
    };
    await tag('nulls', (await store({ ...manifest, layers: [null] })).hex);
    const swapped = await store({ ...config, rootfs: { ...config.rootfs, diff_ids: [...config.rootfs.diff_ids].reverse() } });
    await tag(
      'swapped',
      (await store({ ...manifest, config: { ...manifest.config, digest: `sha256:${swapped.hex}`, size: swapped.size } })).hex,
    );

    await dockerd.docker('rmi', 'app-a:1.0');
    const before = await imageIds();
    for (const name of ['nulls', 'swapped']) {
      const result = await cli(cwd, 'pull', remote, `${name}:1`);
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /FORMAT/);
    }
    assert.deepEqual(await imageIds(), before, 'nothing loaded');
    const verified = await cli(cwd, 'verify', remote, '--json');
    assert.equal(verified.code, 4);
    const report = JSON.parse(verified.stdout) as { pushAgain: string[]; error: { code: string } };
    assert.deepEqual(report.pushAgain, ['nulls:1', 'swapped:1']);
    assert.equal(report.error.code, 'VERIFY_FAILED');
  });
});
