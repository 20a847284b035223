/** DOCKER_HOST and the TLS environment, read as the docker CLI reads them. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { connectionOptions, DockerApiEngine } from '@dogestry/core/internal';

let certs: string;
before(async () => {
  certs = await mkdtemp(join(tmpdir(), 'dogestry-certs-'));
  for (const name of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(join(certs, name), name);
});
after(() => rm(certs, { recursive: true, force: true }));

it('unix sockets: absolute, relative, and a bare path', () => {
  assert.deepEqual(connectionOptions('unix:///var/run/docker.sock', {}), { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(connectionOptions('unix://relative.sock', {}), { socketPath: 'relative.sock' });
  assert.deepEqual(connectionOptions('/run/podman.sock', {}), { socketPath: '/run/podman.sock' });
  assert.throws(() => connectionOptions('unix://', {}), { code: 'INVALID_REFERENCE' });
});

it('tcp hosts, IPv6 literals without their brackets', () => {
  assert.deepEqual(connectionOptions('tcp://[::1]:2375', {}), { host: '::1', port: 2375, protocol: 'http' });
  assert.deepEqual(connectionOptions('tcp://10.0.0.5', {}), { host: '10.0.0.5', port: 2375, protocol: 'http' });
});

it('TLS as the docker CLI: DOCKER_CERT_PATH alone turns nothing on; DOCKER_TLS without verification; DOCKER_TLS_VERIFY checks the CA', () => {
  assert.equal(connectionOptions('tcp://h:2376', { DOCKER_CERT_PATH: certs }).protocol, 'http');
  const tls = connectionOptions('tcp://h:2376', { DOCKER_TLS: '1', DOCKER_CERT_PATH: certs });
  assert.equal(tls.protocol, 'https');
  assert.equal(tls.verify, false);
  assert.equal(tls.ca, undefined, 'no CA without verification');
  assert.equal(tls.cert?.toString(), 'cert.pem', 'a client certificate is still sent');
  const verified = connectionOptions('tcp://h', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  assert.deepEqual([verified.protocol, verified.port, verified.verify, verified.ca?.toString()], ['https', 2376, true, 'ca.pem']);
  assert.throws(() => connectionOptions('tcp://h', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(certs, 'none') }), /ca\.pem/);
  // TLS without verification and without client files is fine.
  assert.equal(connectionOptions('https://h', { DOCKER_CERT_PATH: join(certs, 'none') }).protocol, 'https');
});

/** An engine stand-in on 127.0.0.1 that records the paths asked and answers /_ping with `apiVersion`. */
async function engineStub(apiVersion: string | undefined, silent = false): Promise<{ host: string; paths: string[]; close(): void }> {
  const paths: string[] = [];
  const server = createServer((request, response) => {
    paths.push(request.url ?? '');
    if (silent) return; // accepts, never answers
    if (request.url === '/_ping') {
      response.writeHead(200, apiVersion ? { 'API-Version': apiVersion } : {});
      response.end('OK');
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ Version: '99.0', ApiVersion: apiVersion ?? '', Id: 'sha256:00' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `tcp://127.0.0.1:${port}`, paths, close: () => server.close() };
}

it("the API version: the engine's own from /_ping, asked once; DOCKER_API_VERSION pins it; below 1.25 refused", async () => {
  const stub = await engineStub('1.45');
  try {
    const engine = new DockerApiEngine(stub.host, {});
    await engine.info();
    await engine.inspectImage('x');
    assert.deepEqual(stub.paths.sort(), ['/_ping', '/v1.45/images/x/json', '/v1.45/info', '/v1.45/version']);
    stub.paths.length = 0;
    await new DockerApiEngine(stub.host, { DOCKER_API_VERSION: '1.41' }).info();
    assert.deepEqual(stub.paths.sort(), ['/v1.41/info', '/v1.41/version']);
  } finally {
    stub.close();
  }
  const old = await engineStub('1.24');
  try {
    await assert.rejects(new DockerApiEngine(old.host, {}).info(), { code: 'ENGINE', message: /API 1\.24; dogestry needs 1\.25/ });
  } finally {
    old.close();
  }
});

it('an engine that accepts and then says nothing fails after DOGESTRY_ENGINE_TIMEOUT, as unreachable', async () => {
  const stub = await engineStub('1.41', true);
  try {
    const started = Date.now();
    await assert.rejects(new DockerApiEngine(stub.host, { DOGESTRY_ENGINE_TIMEOUT: '1' }).info(), {
      code: 'ENGINE_UNREACHABLE',
      message: /no answer for 1 s/,
    });
    assert.ok(Date.now() - started < 5000);
  } finally {
    stub.close();
  }
});

it('ssh:// hosts: user and port as ssh options, the host after --, DOGESTRY_SSH_COMMAND in front', () => {
  assert.deepEqual(connectionOptions('ssh://deploy@build-1:2222', { DOGESTRY_SSH_COMMAND: 'ssh -F /etc/x' }).ssh, [
    ...['ssh', '-F', '/etc/x', '-o', 'ConnectTimeout=30', '-T', '-l', 'deploy', '-p', '2222'],
    ...['--', 'build-1', 'docker', 'system', 'dial-stdio'],
  ]);
  assert.deepEqual(connectionOptions('ssh://[::1]', {}).ssh?.slice(-5), ['--', '::1', 'docker', 'system', 'dial-stdio']);
  assert.throws(() => connectionOptions('ssh://host/some/path', {}), { code: 'INVALID_REFERENCE' });
  assert.throws(() => connectionOptions('ssh://u:pw@host', {}), { code: 'INVALID_REFERENCE' });
});
