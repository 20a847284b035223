/** `dogestry registry REMOTE --json …` as a user runs it: the real CLI in its own process, stopped by PID. */
import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './cli.js';
import { stopChild } from './process.js';
import { until } from './wait.js';

export interface RegistryProcess {
  readonly url: string;
  /** `127.0.0.1:PORT`, as image references name it. */
  readonly host: string;
  readonly pid: number;
  /** What it has written to stderr (its request log) so far. */
  log(): string;
  /** Stop it; answers what it wrote to stderr (its request log). */
  stop(): Promise<string>;
}

/** Its URL comes from the one JSON document it prints once listening (port 0 picks a free one). */
export async function startRegistryProcess(remote: string, flags: readonly string[], env: NodeJS.ProcessEnv): Promise<RegistryProcess> {
  const child: ChildProcess = spawn(CLI, ['registry', remote, '--listen', '127.0.0.1:0', '--json', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  let stdout = '';
  child.stdout?.on('data', (d) => (stdout += d));
  if (!(await until(async () => stdout.includes('\n'), { givenUp: () => child.exitCode !== null }))) {
    await stopChild(child);
    throw new Error(`dogestry registry did not start: ${stderr}`);
  }
  const url = (JSON.parse(stdout) as { url: string }).url;
  return {
    url,
    host: url.replace(/^https?:\/\//, ''),
    pid: child.pid as number,
    log: () => stderr,
    stop: async () => {
      await stopChild(child);
      return stderr;
    },
  };
}
