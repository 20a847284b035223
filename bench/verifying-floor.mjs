/**
 * The floor any tool pays here that hashes every byte it moves (as dogestry must: a layer's
 * digest is its name and its proof), measured the plainest way node can:
 *
 *   node bench/verifying-floor.mjs save HOST IMAGE OUT   the engine's save, sha256'd, written to OUT
 *   node bench/verifying-floor.mjs load HOST TAR         TAR read, sha256'd, streamed into the engine's load
 *
 * TAR may be an http:// URL (a presigned one, for S3): then it is downloaded with node's own
 * http client, no SDK, as a verifying pull from S3 at its plainest.
 *
 * No tar parsing, no encoding, no cache: what is left between this and `docker save` /
 * `docker load` is the cost of hashing and storing the bytes on the same cores as the engine.
 * Plain JavaScript, run by bare node, so no loader's start-up is counted.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { get, request } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [mode, host, ...rest] = process.argv.slice(2);
if (!host?.startsWith('unix://') || (mode !== 'save' && mode !== 'load')) {
  console.error('usage: verifying-floor.mjs save unix:///PATH IMAGE OUT | load unix:///PATH TAR');
  process.exit(2);
}
const socketPath = host.slice('unix://'.length);
const hash = createHash('sha256');
const hashing = () =>
  new Transform({
    transform(chunk, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });

/** One engine API call; resolves with the response once its status is known. */
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path: `/v1.41${path}`, headers: body ? { 'content-type': 'application/x-tar' } : {} },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`));
        else resolve(res);
      },
    );
    req.on('error', reject);
    if (body) pipeline(body, hashing(), req).catch(reject);
    else req.end();
  });
}

/** The body of a GET of `url`, once its status is 200. */
function download(url) {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      if (res.statusCode === 200) resolve(res);
      else reject(new Error(`GET ${new URL(url).pathname}: HTTP ${res.statusCode}`));
    }).on('error', reject);
  });
}

if (mode === 'save') {
  const [image, out] = rest;
  const res = await call('GET', `/images/${encodeURIComponent(image)}/get`);
  await pipeline(res, hashing(), createWriteStream(out, { highWaterMark: 4 * 1024 * 1024 }));
} else {
  const [tar] = rest;
  const source = tar.startsWith('http://') ? await download(tar) : createReadStream(tar, { highWaterMark: 1024 * 1024 });
  const res = await call('POST', '/images/load?quiet=1', source);
  let answer = '';
  for await (const chunk of res) answer += chunk;
  if (answer.includes('"error"')) throw new Error(`the engine refused the load: ${answer}`);
}
console.log(`sha256:${hash.digest('hex')}`);
