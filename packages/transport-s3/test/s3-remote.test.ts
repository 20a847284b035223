import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { remoteConformance } from '@dogestry/core/conformance';
import { createRemote, parseS3Url } from '@dogestry/transport-s3';
import { type Radosgw, startRadosgw } from '../../../test/support/radosgw.js';

let rgw: Radosgw;
let n = 0;
before(async () => {
  rgw = await startRadosgw(1024);
  await rgw.createBucket('conformance');
});
after(async () => {
  await rgw?.stop();
});

const options = () => ({ env: { ...rgw.env } });
remoteConformance('s3: Ceph radosgw', async () => ({ remote: createRemote(rgw.url('conformance', `run-${++n}/`), options()) }));
remoteConformance('s3: Ceph radosgw, bucket root', async () => {
  await rgw.createBucket(`root-${++n}`);
  return { remote: createRemote(rgw.url(`root-${n}`), options()) };
});

describe('s3 URLs', () => {
  it('parses bucket, prefix and options, and keeps credentials out', () => {
    assert.deepEqual(parseS3Url('s3://ops-goodies/docker-repo/?region=us-west-2'), {
      bucket: 'ops-goodies',
      prefix: 'docker-repo/',
      region: 'us-west-2',
      anonymous: false,
    });
    assert.equal(parseS3Url('s3://b/a/b').prefix, 'a/b/');
    assert.throws(() => parseS3Url('s3://key:secret@bucket/x/'), /credentials do not belong/);
    assert.throws(() => parseS3Url('s3://bucket/x/?regoin=eu'), /unknown S3 URL option "regoin"/);
  });

  it('canonical url has no secrets and round-trips', () => {
    const remote = createRemote('s3://b/p/?endpoint=http%3A%2F%2F127.0.0.1%3A1&region=eu-west-1', { env: {} });
    assert.equal(remote.url, 's3://b/p/?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A1');
  });
});
