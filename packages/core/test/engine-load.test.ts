/** The engine client against an engine that fails a load early: the load body is destroyed, nothing leaks. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { it } from 'node:test';
import { DockerApiEngine } from '@dogestry/core/internal';

it('a load the engine refuses before reading the body destroys the body (its readers and file handles close)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-engine-'));
  const socket = join(dir, 'engine.sock');
  // An engine that answers 500 as soon as the request starts, without reading the tar.
  const server = createServer((request, response) => {
    if (request.url === '/_ping') {
      response.end('OK');
      return;
    }
    response.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
    response.end(JSON.stringify({ message: 'no space left on device' }));
    request.socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  let produced = 0;
  let finalized = false;
  // An endless tar, as a load streaming layers that are still downloading.
  const body = Readable.from(
    (async function* () {
      try {
        for (;;) {
          produced++;
          yield Buffer.alloc(64 * 1024);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      } finally {
        finalized = true;
      }
    })(),
  );
  try {
    // Which error wins depends on timing (the 500, or EPIPE on the body it would not read): both are exit 8.
    // Never "cannot reach": the engine was reached, and its answer is preferred when it arrived.
    await assert.rejects(new DockerApiEngine(`unix://${socket}`).load(body), {
      exitCode: 8,
      code: 'ENGINE',
      message: /no space left on device|closed the connection while it was sent the image/,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(body.destroyed, 'the load body was destroyed');
    assert.ok(finalized, "the body's producer ran its cleanup");
    const after = produced;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(produced, after, 'nothing more is produced');
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
