/** Small helpers for the servers the tests start: stopping one by its own PID, and waiting for a port. */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';

/** SIGTERM a child we started, unless it already exited, and wait until it has. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Whether something accepts TCP connections on host:port now. */
export function tcpListening(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = connect({ host, port }, () => {
      probe.destroy();
      resolve(true);
    }).on('error', () => resolve(false));
  });
}
