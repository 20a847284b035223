/**
 * Delegated pulls (`--pull-hosts dogestry://…`) against a scripted agent on loopback: the
 * ticket it is handed, a ticket that expired re-issued once, a host that fails among others
 * that load, and what the deploy machine downloads (nothing). The real `dogestry serve` on
 * four dockerds is in test/e2e/fleet.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { type PullResult, type PullTicket, pull, push } from '@dogestry/core';
import { MemoryRemote } from '@dogestry/core/transport';
import { buildImageTar, type SyntheticImage } from '../../../test/support/synthetic-image.js';
import { FakeEngine } from './support/fake-engine.js';

/** An in-memory remote that presigns (as S3 does): URLs no one fetches here. */
class PresigningRemote extends MemoryRemote {
  signed = 0;
  async presign(key: string, expiresIn: number): Promise<string> {
    this.signed++;
    return `https://bucket.example/${key}?expires=${expiresIn}&n=${this.signed}`;
  }
}

let work: string;
let image: SyntheticImage;
let remote: PresigningRemote;
let agent: Server;
let agentUrl: string;
/** What the scripted agent was sent, and what it answers next. */
const received: { image: string; ticket: PullTicket }[] = [];
let answers: ((body: { image: string; ticket: PullTicket }) => { status: number; lines: object[] })[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-delegate-'));
  image = await buildImageTar(join(work, 'img'), 'app:1', [{ seed: 'delegate', size: 64 * 1024 }]);
  remote = new PresigningRemote();
  const engine = new FakeEngine();
  engine.add('app:1', image);
  await push({ remote, engine, image: 'app:1' });
  agent = createServer((request, response) => {
    if (request.url === '/v1/info') {
      response.end(JSON.stringify({ dogestry: 'test', protocol: 1 }));
      return;
    }
    let text = '';
    request.on('data', (d) => (text += d));
    request.on('end', () => {
      const body = JSON.parse(text) as { image: string; ticket: PullTicket };
      received.push(body);
      const next = answers.shift()?.(body) ?? { status: 500, lines: [] };
      response.writeHead(next.status, { 'content-type': 'application/x-ndjson' });
      response.end(next.lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    });
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  agentUrl = `dogestry://127.0.0.1:${(agent.address() as { port: number }).port}`;
});

after(async () => {
  agent?.close();
  await rm(work, { recursive: true, force: true });
});

const resultFor = (body: { image: string }): PullResult => ({
  remote: 'memory://',
  image: body.image,
  imageId: image.imageId,
  manifestDigest: 'sha256:0',
  bytesDownloaded: 4242,
  engines: [{ engine: 'unix:///var/run/docker.sock', layersLoaded: 1, layersPresent: 0, alreadyPresent: false }],
});

it('hands the host a ticket for exactly this image, and downloads nothing itself', async () => {
  received.length = 0;
  answers = [(body) => ({ status: 200, lines: [{ type: 'plan' }, { type: 'result', result: resultFor(body) }] })];
  const result = await pull({ remote, image: 'app:1', dockerHosts: [agentUrl], cacheDir: join(work, 'cache') });
  assert.equal(result.bytesDownloaded, 0);
  assert.deepEqual(result.engines, [
    { engine: agentUrl, layersLoaded: 1, layersPresent: 0, alreadyPresent: false, delegated: { bytesDownloaded: 4242 } },
  ]);
  const ticket = received[0]?.ticket as PullTicket;
  assert.equal(ticket.image, 'app:1');
  assert.ok(Object.keys(ticket.objects).some((key) => key.startsWith('blobs/sha256/')));
  assert.ok(Date.parse(ticket.expires) - Date.now() <= 15 * 60 * 1000, 'a short expiry');
});

it('a host that reports its ticket expired is sent a fresh one, once', async () => {
  received.length = 0;
  answers = [
    () => ({ status: 200, lines: [{ type: 'error', error: { code: 'EXPIRED', message: 'the pull ticket expired', retryable: false } }] }),
    (body) => ({ status: 200, lines: [{ type: 'result', result: resultFor(body) }] }),
  ];
  const result = await pull({ remote, image: 'app:1', dockerHosts: [agentUrl], cacheDir: join(work, 'cache') });
  assert.equal(result.engines[0]?.delegated?.bytesDownloaded, 4242);
  assert.equal(received.length, 2);
  assert.notDeepEqual(received[1]?.ticket.objects, received[0]?.ticket.objects, 'newly signed URLs');
  answers = [() => ({ status: 410, lines: [] }), () => ({ status: 410, lines: [] })];
  await assert.rejects(pull({ remote, image: 'app:1', dockerHosts: [agentUrl], cacheDir: join(work, 'cache') }), { code: 'EXPIRED' });
});

it("a host's own failure comes back with its code (the mix with other hosts: PARTIAL, in test/e2e/fleet.test.ts)", async () => {
  answers = [
    () => ({ status: 200, lines: [{ type: 'error', error: { code: 'ENGINE_UNREACHABLE', message: 'engine down', retryable: true } }] }),
  ];
  await assert.rejects(pull({ remote, image: 'app:1', dockerHosts: [agentUrl], cacheDir: join(work, 'cache') }), {
    code: 'ENGINE_UNREACHABLE',
    message: /engine down/,
  });
});
