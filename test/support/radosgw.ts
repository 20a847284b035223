/** Ceph's radosgw (a real S3 server) for one test file, via scripts/radosgw.sh; fresh data, stopped by PID. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { REPO_ROOT } from './dockerd.js';
import { freePort } from './nginx.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts', 'radosgw.sh');

export interface Radosgw {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Environment for a dogestry process that should use these credentials. */
  readonly env: Record<string, string>;
  readonly client: S3Client;
  createBucket(name: string): Promise<void>;
  /** `s3://bucket/prefix/?endpoint=…` */
  url(bucket: string, prefix?: string): string;
  stop(): Promise<void>;
}

export async function startRadosgw(memstoreMiB = 3072): Promise<Radosgw> {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-rgw-'));
  const port = await freePort();
  let stdout: string;
  try {
    ({ stdout } = await run(SCRIPT, ['start', dir, String(port), String(memstoreMiB)], { timeout: 120_000 }));
  } catch (error) {
    await run(SCRIPT, ['stop', dir]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const [endpoint, accessKeyId, secretAccessKey] = stdout.trim().split(/\s+/) as [string, string, string];
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    env: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
    client,
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    url: (bucket, prefix = '') => `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}`,
    stop: async () => {
      client.destroy();
      await run(SCRIPT, ['stop', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
