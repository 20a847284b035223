/**
 * A real nginx (Debian's, with the dav module) on 127.0.0.1 and a free port, with its own
 * config and prefix, stopped by PID. Locations:
 *   /static/   read-only, plain files from `root/static` (no listing)
 *   /dav/      PUT DELETE MKCOL, create_full_put_path, JSON autoindex, over `root/dav`
 *   /davmove/  as /dav/ plus MOVE (atomic create-only via MOVE Overwrite: F), over `root/davmove`
 *   /private/  as /dav/ behind basic auth (user `deploy`, password `s3cret-pass`), over `root/private`
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './process.js';
import { until } from './wait.js';

export interface Nginx {
  readonly url: string;
  readonly root: string;
  stop(): Promise<void>;
}

export const NGINX_USER = 'deploy';
export const NGINX_PASSWORD = 's3cret-pass';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `keepalive: false`: `keepalive_timeout 0`, so nginx closes every connection after its response. */
export async function startNginx(options: { keepalive?: boolean } = {}): Promise<Nginx> {
  const root = await mkdtemp(join(tmpdir(), 'dogestry-nginx-'));
  for (const dir of ['logs', 'tmp', 'static', 'dav', 'davmove', 'private']) await mkdir(join(root, dir), { recursive: true });
  await writeFile(join(root, 'htpasswd'), `${NGINX_USER}:{PLAIN}${NGINX_PASSWORD}\n`);
  const port = await freePort();
  const dav = 'create_full_put_path on; autoindex on; autoindex_format json; client_max_body_size 0;';
  await writeFile(
    join(root, 'nginx.conf'),
    `daemon off;
user root root;
worker_processes 2;
pid ${root}/nginx.pid;
error_log ${root}/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp;
  proxy_temp_path ${root}/tmp;
  fastcgi_temp_path ${root}/tmp;
  uwsgi_temp_path ${root}/tmp;
  scgi_temp_path ${root}/tmp;
  sendfile on;
  ${options.keepalive === false ? 'keepalive_timeout 0;' : ''}
  server {
    listen 127.0.0.1:${port};
    location /static/ { root ${root}; }
    location /dav/ { root ${root}; dav_methods PUT DELETE MKCOL; ${dav} }
    location /davmove/ { root ${root}; dav_methods PUT DELETE MKCOL MOVE; ${dav} }
    location /private/ { root ${root}; dav_methods PUT DELETE MKCOL; ${dav} auth_basic "dogestry"; auth_basic_user_file ${root}/htpasswd; }
  }
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-c', join(root, 'nginx.conf'), '-p', root], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const answering = () =>
    fetch(`${url}/static/`).then(
      () => true,
      () => false,
    );
  if (!(await until(answering, { givenUp: () => child.exitCode !== null }))) {
    const log = await readFile(join(root, 'logs', 'error.log'), 'utf8').catch(() => '');
    throw new Error(`nginx did not start: ${log}`);
  }
  return {
    url,
    root,
    stop: async () => {
      await stopChild(child);
      await rm(root, { recursive: true, force: true });
    },
  };
}
