import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './dockerd.js';

export const CLI = join(REPO_ROOT, 'packages', 'cli', 'bin', 'dogestry');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run the real `dogestry` binary, as a user does (through bin/dogestry, with its node flags).
 * `env` replaces nothing unless given; HOME/caches go to `cwd` by default. `input` goes to its
 * stdin (`--password-stdin`); without it, stdin is closed.
 */
export function runCli(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, {
      cwd: options.cwd,
      env: options.env ?? { ...process.env, XDG_CACHE_HOME: join(options.cwd, '.cache') },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
