/**
 * A real OpenSSH server (Debian's openssh-server) on 127.0.0.1 and a free port, key auth
 * only, with `SetEnv DOCKER_HOST` pointing at a private dockerd, so `ssh … docker system
 * dial-stdio` reaches it as it would on a remote host. Stopped by PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './nginx.js';
import { stopChild, tcpListening } from './process.js';
import { until } from './wait.js';

const run = promisify(execFile);

export interface Sshd {
  readonly port: number;
  /** `ssh -F <config>`: a client set up with the authorized key (for DOGESTRY_SSH_COMMAND). */
  readonly sshCommand: string;
  /** As `sshCommand`, with a key the server does not accept. */
  readonly wrongKeyCommand: string;
  stop(): Promise<void>;
}

export async function startSshd(dockerHost: string): Promise<Sshd> {
  const dir = await mkdtemp(join(tmpdir(), 'dogestry-sshd-'));
  await mkdir('/run/sshd', { recursive: true }); // sshd's privilege separation directory
  const keygen = (path: string) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
  await Promise.all([keygen(join(dir, 'host_key')), keygen(join(dir, 'id')), keygen(join(dir, 'other_id'))]);
  await run('cp', [join(dir, 'id.pub'), join(dir, 'authorized_keys')]);
  const port = await freePort();
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      `SetEnv DOCKER_HOST=${dockerHost}`,
      '',
    ].join('\n'),
  );
  const clientConfig = (key: string) =>
    [
      'Host *',
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      '  StrictHostKeyChecking no',
      '  UserKnownHostsFile /dev/null',
      '  BatchMode yes',
      '  LogLevel ERROR',
      '',
    ].join('\n');
  await writeFile(join(dir, 'ssh_config'), clientConfig(join(dir, 'id')));
  await writeFile(join(dir, 'ssh_config_wrong'), clientConfig(join(dir, 'other_id')));
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  if (!(await until(() => tcpListening('127.0.0.1', port), { givenUp: () => child.exitCode !== null })))
    throw new Error(`sshd did not start: ${log}`);
  return {
    port,
    sshCommand: `ssh -F ${join(dir, 'ssh_config')}`,
    wrongKeyCommand: `ssh -F ${join(dir, 'ssh_config_wrong')}`,
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
