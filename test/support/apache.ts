/**
 * A real Apache 2 (Debian's apache2) with mod_dav on 127.0.0.1 and a free port: its own config,
 * run in the foreground and stopped by PID. One location:
 *   /dav/   WebDAV (PUT, DELETE, MKCOL, MOVE, PROPFIND) over `root/dav`, served by www-data
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nginx.js';
import { stopChild } from './process.js';
import { until } from './wait.js';

export interface Apache {
  readonly url: string;
  readonly root: string;
  stop(): Promise<void>;
}

const MODULES = ['mpm_event', 'authz_core', 'dav', 'dav_fs', 'mime', 'dir', 'alias'];

/** A port picked free can be taken before Apache binds it: then it exits, and it starts again on another. */
export async function startApache(): Promise<Apache> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startApacheOnce();
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startApacheOnce(): Promise<Apache> {
  const root = await mkdtemp(join(tmpdir(), 'dogestry-apache-'));
  await chmod(root, 0o755); // www-data walks through it
  for (const dir of ['logs', 'run', 'dav', 'lock', 'www']) await mkdir(join(root, dir), { recursive: true });
  // Apache will not serve as root: its workers are www-data, which must own what DAV writes.
  const { uid, gid } = await wwwData();
  for (const dir of ['dav', 'lock']) await chown(join(root, dir), uid, gid);
  const port = await freePort();
  await writeFile(
    join(root, 'apache2.conf'),
    `ServerRoot ${root}
${MODULES.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`).join('\n')}
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
User www-data
Group www-data
PidFile ${root}/run/apache2.pid
DefaultRuntimeDir ${root}/run
TypesConfig /etc/mime.types
Mutex file:${root}/run default
ErrorLog ${root}/logs/error.log
LogLevel info dav:debug
DocumentRoot ${root}/www
DavLockDB ${root}/lock/DavLock
Alias /dav ${root}/dav
<Directory ${root}/dav>
  Dav On
  Require all granted
  Options None
  AllowOverride None
</Directory>
`,
  );
  const child: ChildProcess = spawn('/usr/sbin/apache2', ['-f', join(root, 'apache2.conf'), '-DFOREGROUND'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  // Apache itself, with DAV: not whatever else may hold the port.
  const answering = () =>
    fetch(`${url}/dav/`, { method: 'OPTIONS' }).then(
      (r) => r.ok && /Apache/.test(r.headers.get('server') ?? '') && /\b1\b/.test(r.headers.get('dav') ?? ''),
      () => false,
    );
  if (!(await until(answering, { givenUp: () => child.exitCode !== null }))) {
    const log = await readFile(join(root, 'logs', 'error.log'), 'utf8').catch(() => '');
    await stopChild(child);
    await rm(root, { recursive: true, force: true });
    throw new Error(`apache did not start: ${stderr}${log}`);
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

async function wwwData(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('www-data:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('no www-data user (Debian creates it)');
  return { uid: Number(uid), gid: Number(gid) };
}
