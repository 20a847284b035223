/** DOCKER_HOST and the TLS environment, read as the docker CLI reads them. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { connectionOptions } from '@dogestry/core/internal';

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
