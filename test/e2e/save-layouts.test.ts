/**
 * The save parser against tarballs made by real tools: Docker 20.10's legacy save, skopeo's
 * OCI archive (gzip layers, config re-serialized), and Podman's docker-archive.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DockerApiEngine, type EntrySink, parseSave, type SaveResult } from '@dogestry/core/internal';
import { type Dockerd, startDockerd } from '../support/dockerd.js';
import { buildImageTar, type SyntheticImage } from '../support/synthetic-image.js';

const run = promisify(execFile);
let dockerd: Dockerd;
let work: string;
let image: SyntheticImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-layouts-'));
  dockerd = await startDockerd();
  image = await buildImageTar(join(work, 'images'), 'layouts:1', [
    { seed: 'l1', size: 6 * 1024 * 1024 },
    { seed: 'l2', size: 300_000, kind: 'text' },
    { seed: 'l3', size: 5_000_000 },
  ]);
  await dockerd.docker('load', '-i', image.tarPath);
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Parse a save, hashing every layer handed over, as push would. */
async function parse(path: string): Promise<{ result: SaveResult; hashed: Map<string, string> }> {
  const hashed = new Map<string, string>();
  const hashing = (): EntrySink<{ diffId: string; size: number }> => {
    const hash = createHash('sha256');
    let size = 0;
    return {
      write(chunk) {
        hash.update(chunk);
        size += chunk.length;
        return undefined;
      },
      end: async () => ({ diffId: `sha256:${hash.digest('hex')}`, size }),
      abort() {},
    };
  };
  const result = await parseSave(
    createReadStream(path),
    { imageId: image.imageId, diffIds: image.diffIds },
    {
      knownLayer: (diffId) => {
        const sink = hashing();
        return { ...sink, end: async () => void hashed.set(diffId, (await sink.end()).diffId) };
      },
      unknownLayer: () => {
        const sink = hashing();
        return {
          ...sink,
          end: async () => {
            const identity = await sink.end();
            hashed.set(identity.diffId, identity.diffId);
            return identity;
          },
        };
      },
    },
  );
  return { result, hashed };
}

function assertAllLayers(result: SaveResult, hashed: Map<string, string>): void {
  for (const diffId of image.diffIds) {
    assert.equal(hashed.get(diffId), diffId, `layer ${diffId} handed over with the right bytes`);
    assert.ok((result.layers.get(diffId) ?? 0) > 0);
  }
  const config = JSON.parse(result.config.toString()) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, image.diffIds);
}

describe('save layouts from real tools', () => {
  it('Docker 20.10 legacy save (layers named by v1 ids, in lexical order)', async () => {
    const engine = new DockerApiEngine(dockerd.host);
    const path = join(work, 'legacy.tar');
    const { createWriteStream } = await import('node:fs');
    await pipeline(await engine.save('layouts:1'), createWriteStream(path));
    const { result, hashed } = await parse(path);
    assert.equal(result.layout, 'docker-legacy');
    assertAllLayers(result, hashed);
    assert.equal(createHash('sha256').update(result.config).digest('hex'), image.imageId.slice(7));
  });

  it('skopeo oci-archive (gzip layers named by compressed digest; config found through index.json)', async () => {
    const path = join(work, 'oci.tar');
    await run('skopeo', ['copy', '--src-daemon-host', dockerd.host, 'docker-daemon:layouts:1', `oci-archive:${path}`]);
    assert.ok((await stat(path)).size > 0);
    const { result, hashed } = await parse(path);
    assert.equal(result.layout, 'oci');
    assertAllLayers(result, hashed);
  });

  it('Podman docker-archive (layers named <diffid>.tar, repeated as symlinks)', async () => {
    const root = join(work, 'podman');
    const podman = [
      '--root',
      join(root, 'root'),
      '--runroot',
      join(root, 'run'),
      '--storage-driver',
      'vfs',
      '--tmpdir',
      join(root, 'tmp'),
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
    ];
    const path = join(work, 'podman.tar');
    try {
      await run('podman', [...podman, 'load', '-i', image.tarPath]);
      await run('podman', [...podman, 'save', '--format', 'docker-archive', '-o', path, 'localhost/layouts:1']);
    } finally {
      await run('podman', [...podman, 'system', 'reset', '--force']).catch(() => {});
    }
    const { result, hashed } = await parse(path);
    assert.equal(result.layout, 'podman');
    assertAllLayers(result, hashed);
    assert.equal(createHash('sha256').update(result.config).digest('hex'), image.imageId.slice(7));
  });
});
