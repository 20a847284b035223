/**
 * A read-only static HTTP server for a directory remote, its responses sharing one link of
 * RATE MiB/s: a deploy host pulling over a network, for the benchmark.
 *   node --import tsx bench/paced-http.ts DIR PORT RATE
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [root, port, rate] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]) * 1024 * 1024];
/** When the link is next free (ms): every chunk of every response books its time on it. */
let linkFree = 0;

createServer(async (req, res) => {
  const path = join(root, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://link').pathname)));
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-length': info.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const source = createReadStream(path, { highWaterMark: 256 * 1024 });
  source.on('data', (chunk) => {
    const now = Date.now();
    linkFree = Math.max(linkFree, now) + (chunk.length / rate) * 1000;
    source.pause();
    setTimeout(() => {
      res.write(chunk);
      source.resume();
    }, linkFree - now);
  });
  source.on('end', () => setTimeout(() => res.end(), Math.max(0, linkFree - Date.now())));
  res.on('close', () => source.destroy());
}).listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${port}/`));
