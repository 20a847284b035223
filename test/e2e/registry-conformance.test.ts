/**
 * The OCI distribution-spec conformance suite (../shared/oci-conformance, upstream 46cff19)
 * against `dogestry registry` over directory remotes (radosgw: test/e2e/s3-remote.test.ts):
 * - whole, on an empty remote: pull, push, content discovery (referrers included) and
 *   content management, with 0 failures;
 * - pull-only, over content `dogestry push` stored (its own manifests, layers stored lz4),
 *   named to the suite with OCI_TAG_NAME, OCI_MANIFEST_DIGEST, OCI_BLOB_DIGEST and
 *   OCI_TAG_LIST; the referrers listing specs are skipped there, as they expect the four
 *   referrers only the suite's own push setup creates.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { push } from '@dogestry/core';
import { FakeEngine } from '../../packages/core/test/support/fake-engine.js';
import { assertWholeSuitePasses, runConformance, SUITE_MISSING } from '../support/oci-conformance.js';
import { type RegistryProcess, startRegistryProcess } from '../support/registry-process.js';
import { buildImageTar } from '../support/synthetic-image.js';

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

it('passes the whole spec conformance suite on an empty remote: 0 failures, then gc leaves nothing behind', {
  skip: SUITE_MISSING,
}, async () => {
  const remote = join(work, 'empty');
  await assertWholeSuitePasses(
    remote,
    { ...process.env, XDG_CACHE_HOME: join(work, 'cache') },
    'conformance/full',
    join(work, 'report-full'),
  );
  const marker = JSON.parse(await readFile(join(remote, 'dogestry.json'), 'utf8')) as { features: string[] };
  assert.deepEqual(marker.features, ['leases', 'registry']);
  // The suite deletes what it pushed: gc then reclaims every blob, pointer and link.
  const { gc } = await import('@dogestry/core');
  const report = await gc({ remote, grace: 0 });
  assert.equal(report.kept.blobs, 0);
  assert.ok(report.deleted.blobs.count > 0 && report.deleted.links.count > 0);
});

it('passes the spec conformance suite pull-only over what dogestry push stored: every pull and tag-listing spec, 0 failures', {
  skip: SUITE_MISSING,
}, async () => {
  const result = await runConformance(
    registry.url,
    'conformance/app',
    {
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
    ['-ginkgo.skip=listing references'],
  );
  assert.equal(result.failed, 0, result.failures);
  assert.ok(result.passed >= 17, `passed ${result.passed}`);
});
