import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
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

describe('s3 writes through part buffers (upload.ts)', () => {
  const PART = 8 * 1024 * 1024;
  const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const readAll = async (body: Readable | undefined) => Buffer.concat((await body?.toArray()) ?? []);

  it('round-trips bodies on each side of a part boundary, in odd-sized chunks', async () => {
    await rgw.createBucket('parts');
    const remote = createRemote(rgw.url('parts', 'p/'), options());
    for (const size of [0, 1, PART - 1, PART, PART + 1, 3 * PART + 12345]) {
      const bytes = randomBytes(size);
      // 1,000,003-byte chunks: parts fill across chunk boundaries.
      const chunks = Array.from({ length: Math.ceil(size / 1_000_003) }, (_, i) => bytes.subarray(i * 1_000_003, (i + 1) * 1_000_003));
      assert.equal(await remote.write(`blob-${size}`, Readable.from(chunks)), 'written');
      assert.equal((await remote.stat(`blob-${size}`))?.size, size);
      const back = await readAll(await remote.read(`blob-${size}`));
      assert.equal(digest(back), digest(bytes), `size ${size}`);
    }
    await remote.close();
  });

  it('aborts the multipart upload when the body fails after its first parts: no object, nothing left to sweep', async () => {
    await rgw.createBucket('failing');
    const remote = createRemote(rgw.url('failing', 'p/'), options());
    async function* failing() {
      for (let i = 0; i < 3; i++) yield randomBytes(PART);
      throw new Error('the layer went bad');
    }
    await assert.rejects(remote.write('blob', Readable.from(failing())), /the layer went bad/);
    assert.equal(await remote.stat('blob'), undefined);
    // A multipart upload left behind would be found by sweep (dry run), whatever its age.
    assert.deepEqual(await remote.sweep(new Date(Date.now() + 3_600_000), { dryRun: true }), { count: 0, bytes: 0 });
    await remote.close();
  });

  // radosgw ignores If-None-Match on CompleteMultipartUpload (AWS honours it), so both may
  // answer 'written' here: harmless for content-addressed keys, as long as what stays is whole.
  it('two createOnly multipart writers racing leave one whole object and no upload behind', async () => {
    await rgw.createBucket('racing');
    const remote = createRemote(rgw.url('racing', 'p/'), options());
    const first = randomBytes(2 * PART + 1);
    const second = randomBytes(2 * PART + 1);
    const results = await Promise.all([
      remote.write('blob', Readable.from([first]), { createOnly: true }),
      remote.write('blob', Readable.from([second]), { createOnly: true }),
    ]);
    assert.ok(results.includes('written'));
    const back = await readAll(await remote.read('blob'));
    assert.ok([digest(first), digest(second)].includes(digest(back)));
    assert.deepEqual(await remote.sweep(new Date(Date.now() + 3_600_000), { dryRun: true }), { count: 0, bytes: 0 });
    await remote.close();
  });
});

describe('a store that stops answering', () => {
  let silent: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  before(async () => {
    // Accepts connections, reads what comes, never answers: a stalled or full store.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const remote = (timeout: string) =>
    createRemote(`s3://stalled/p/?endpoint=${encodeURIComponent(endpoint)}`, {
      env: { AWS_ACCESS_KEY_ID: 'K', AWS_SECRET_ACCESS_KEY: 'S' },
      settings: { timeout },
    });

  it('fails reads and writes with TRANSPORT after [s3] timeout, instead of hanging', { timeout: 60_000 }, async () => {
    const stalled = remote('0.3');
    const started = Date.now();
    await assert.rejects(stalled.stat('blob'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'TRANSPORT');
      assert.match(error.message, /stopped answering .* raise \[s3\] timeout/);
      return true;
    });
    await assert.rejects(stalled.write('blob', Readable.from([randomBytes(1024)])), { code: 'TRANSPORT' });
    // 5 attempts each, with the SDK's backoff between them: seconds, not forever.
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    await stalled.close();
  });

  // Ceph blocks writes to a full pool: an upload under way stops getting answers. The abort
  // that follows gets one try, not the SDK's five: the push has failed already.
  it('gives the abort of an upload cut off mid-part one try, not five', { timeout: 60_000 }, async () => {
    await rgw.createBucket('filling');
    const store = new URL(rgw.endpoint);
    const requests: string[] = [];
    const links = new Set<Socket>();
    let forwarded = 0;
    const proxy = createServer((client) => {
      const upstream = connect(Number(store.port), store.hostname);
      for (const socket of [client, upstream]) {
        links.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => links.delete(socket));
      }
      client.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString('latin1').matchAll(/^([A-Z]+) (\S+) HTTP\/1\.1\r$/gm)) requests.push(`${m[1]} ${m[2]}`);
        forwarded += chunk.length;
        if (forwarded < 4 * 1024 * 1024) upstream.write(chunk); // then, halfway through the first part, silence
      });
      upstream.on('data', (chunk: Buffer) => {
        if (forwarded < 4 * 1024 * 1024) client.write(chunk);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const filling = createRemote(
      `s3://filling/p/?endpoint=${encodeURIComponent(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)}`,
      {
        ...options(),
        settings: { timeout: '0.3' },
      },
    );
    try {
      await assert.rejects(filling.write('blob', Readable.from([randomBytes(12 * 1024 * 1024)])), { code: 'TRANSPORT' });
      const aborts = requests.filter((r) => r.startsWith('DELETE ') && r.includes('uploadId='));
      assert.ok(
        requests.some((r) => r.startsWith('POST ') && r.includes('uploads')),
        `no multipart upload started: ${requests.join(', ')}`,
      );
      assert.equal(aborts.length, 1, `abort tries: ${aborts.length}`);
    } finally {
      await filling.close();
      for (const socket of links) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('a read its reader leaves paused past the timeout resumes where it stopped, bytes intact', { timeout: 60_000 }, async () => {
    await rgw.createBucket('paused');
    const bytes = randomBytes(24 * 1024 * 1024);
    const writer = createRemote(rgw.url('paused', 'p/'), options());
    await writer.write('blob', Readable.from([bytes]));
    await writer.close();
    const reader = createRemote(rgw.url('paused', 'p/'), { ...options(), settings: { timeout: '1' } });
    // Count the GETs: the stall must have cut the first one (else this tests nothing).
    const ranges: string[] = [];
    reader.client.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        if ((args.input as { Key?: string }).Key === 'p/blob') ranges.push(headers.range ?? 'whole');
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    const chunks: Buffer[] = [];
    let got = 0;
    let paused = false;
    for await (const chunk of (await reader.read('blob')) as Readable) {
      chunks.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (!paused && got >= 1024 * 1024) {
        // A consumer stalls (a slow engine, a slow registry client) for 3 idle timeouts.
        paused = true;
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
    const back = Buffer.concat(chunks);
    assert.equal(back.length, bytes.length);
    assert.ok(back.equals(bytes));
    assert.ok(ranges.length >= 2 && ranges[0] === 'whole' && /^bytes=[1-9]\d*-$/.test(ranges[1] ?? ''), ranges.join(', '));
    await reader.close();
  });

  it('refuses a timeout that is not a positive number of seconds, with CONFIG', () => {
    for (const bad of ['0', '-1', 'soon']) assert.throws(() => remote(bad), { code: 'CONFIG' });
  });
});
