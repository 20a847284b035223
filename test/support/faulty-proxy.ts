/**
 * An HTTP proxy in front of a real server that cuts GET responses for blobs short: it sends
 * the headers and part of the body, then destroys the socket. `times` cuts per path (then it
 * passes requests through untouched, Range included).
 */
import { createServer, request, type Server } from 'node:http';

export interface FaultyProxy {
  readonly url: string;
  readonly cuts: number;
  close(): Promise<void>;
}

export async function startFaultyProxy(target: string, options: { times: number; afterBytes: number }): Promise<FaultyProxy> {
  const cutsByPath = new Map<string, number>();
  let cuts = 0;
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const cut = req.method === 'GET' && path.includes('/blobs/') && (cutsByPath.get(path) ?? 0) < options.times;
    const proxied = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (!cut) {
          upstreamRes.pipe(res);
          return;
        }
        cutsByPath.set(path, (cutsByPath.get(path) ?? 0) + 1);
        let sent = 0;
        upstreamRes.on('data', (chunk: Buffer) => {
          if (sent + chunk.length >= options.afterBytes) {
            res.write(chunk.subarray(0, Math.max(0, options.afterBytes - sent)));
            cuts++;
            upstreamRes.destroy();
            res.socket?.destroy();
            return;
          }
          sent += chunk.length;
          res.write(chunk);
        });
        upstreamRes.on('end', () => res.end());
      },
    );
    proxied.on('error', () => res.destroy());
    req.pipe(proxied);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get cuts() {
      return cuts;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
