/**
 * The OCI distribution-spec conformance suite (../shared/oci-conformance, upstream 46cff19)
 * against `dogestry registry`, pull-only: the pull workflow and content discovery (tag
 * listing) over content `dogestry push` stored, named to the suite with OCI_TAG_NAME,
 * OCI_MANIFEST_DIGEST, OCI_BLOB_DIGEST and OCI_TAG_LIST. Skipped by focus: the referrers
 * listing specs, which expect four referrer manifests that only the suite's own push setup
 * creates (the push side is not built yet), and the push and management workflows.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { push } from '@dogestry/core';
import { FakeEngine } from '../../packages/core/test/support/fake-engine.js';
import { REPO_ROOT } from '../support/dockerd.js';
import { type RegistryProcess, startRegistryProcess } from '../support/registry-process.js';
import { buildImageTar } from '../support/synthetic-image.js';

const run = promisify(execFile);
/** The suite's runner: $OCI_CONFORMANCE_DIR, else ../shared next to this checkout, else /work/shared. */
const SUITE = [process.env.OCI_CONFORMANCE_DIR, join(REPO_ROOT, '..', 'shared', 'oci-conformance'), '/work/shared/oci-conformance']
  .filter((dir): dir is string => Boolean(dir))
  .map((dir) => join(dir, 'run.sh'))
  .find((path) => existsSync(path));
let work: string;
let registry: RegistryProcess;
let seeded: { manifest: string; blob: string };

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-conformance-'));
  const image = await buildImageTar(join(work, 'img'), 'conformance/app:v1', [
    { seed: 'conf-text', size: 200_000, kind: 'text' },
    { seed: 'conf-random', size: 100_000 },
  ]);
  const engine = new FakeEngine();
  engine.add('conformance/app:v1', image);
  const remote = join(work, 'remote');
  const pushed = await push({ remote, engine, image: 'conformance/app:v1' });
  for (const tag of ['v2', 'v3']) await push({ remote, engine, image: 'conformance/app:v1', as: `conformance/app:${tag}` });
  seeded = { manifest: pushed.manifestDigest, blob: image.diffIds[0] as string };
  registry = await startRegistryProcess(remote, [], { ...process.env, XDG_CACHE_HOME: join(work, 'cache') });
});

after(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

it('passes the spec conformance suite pull-only: every pull and tag-listing spec, 0 failures', {
  skip: !SUITE && 'the conformance suite is not on this machine (set OCI_CONFORMANCE_DIR)',
}, async () => {
  const result = await run('bash', [SUITE as string, registry.url, 'conformance/app', '--', '-ginkgo.skip=listing references'], {
    env: {
      ...process.env,
      OCI_TEST_PULL: '1',
      OCI_TEST_PUSH: '0',
      OCI_TEST_CONTENT_DISCOVERY: '1',
      OCI_TEST_CONTENT_MANAGEMENT: '0',
      OCI_TAG_NAME: 'v1',
      OCI_MANIFEST_DIGEST: seeded.manifest,
      OCI_BLOB_DIGEST: seeded.blob,
      OCI_TAG_LIST: 'v1,v2,v3',
      OCI_REPORT_DIR: join(work, 'report'),
    },
    maxBuffer: 64 << 20,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const summary = /SUMMARY: total=(\d+) passed=(\d+) failed=(\d+)/.exec(result.stdout);
  assert.ok(summary, `no summary from the suite:\n${result.stdout.slice(-3000)}`);
  assert.equal(
    Number(summary[3]),
    0,
    result.stdout
      .split('\n')
      .filter((l) => l.startsWith('[Fail]'))
      .join('\n'),
  );
  assert.ok(Number(summary[2]) >= 17, `passed ${summary[2]}`);
});
