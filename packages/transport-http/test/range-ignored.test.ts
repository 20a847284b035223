/**
 * A server that ignores Range (python's http.server does) and drops a connection mid-body:
 * the read resumes by fetching the object again and skipping what it already has, instead of
 * failing the pull.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { createRemote } from '@dogestry/transport-http';

it('a dropped download resumes from a server that answers a Range request with the whole object', async () => {
  const object = randomBytes(1024 * 1024);
  const ranges: (string | undefined)[] = [];
  const server = createServer((request, response) => {
    ranges.push(request.headers.range);
    response.writeHead(200, { 'content-length': object.length, connection: 'close' });
    if (request.method === 'HEAD') return response.end();
    if (ranges.length === 1) {
      // The first answer is cut after 300 KB.
      response.write(object.subarray(0, 300 * 1024), () => setTimeout(() => request.socket.destroy(), 20));
      return;
    }
    response.end(object);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const remote = await createRemote(`http://127.0.0.1:${(server.address() as AddressInfo).port}/repo/`);
  try {
    const stream = await remote.read('blobs/sha256/x');
    assert.ok(stream);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(object), 'the whole object, each byte once');
    assert.equal(ranges.length, 2);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/, 'the second request asked for the rest');
  } finally {
    await remote.close();
    server.close();
  }
});
