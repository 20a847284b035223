/**
 * The OCI distribution-spec conformance suite (../shared/oci-conformance, upstream 46cff19):
 * where it is, and one run of it against a registry URL, with its summary.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './dockerd.js';
import { startRegistryProcess } from './registry-process.js';

const run = promisify(execFile);

/** The suite's runner: $OCI_CONFORMANCE_DIR, else ../shared next to this checkout, else /work/shared. */
export const CONFORMANCE_SUITE = [
  process.env.OCI_CONFORMANCE_DIR,
  join(REPO_ROOT, '..', 'shared', 'oci-conformance'),
  '/work/shared/oci-conformance',
]
  .filter((dir): dir is string => Boolean(dir))
  .map((dir) => join(dir, 'run.sh'))
  .find((path) => existsSync(path));

/** Why a test of the suite is skipped here, if it is. */
export const SUITE_MISSING = !CONFORMANCE_SUITE && 'the conformance suite is not on this machine (set OCI_CONFORMANCE_DIR)';

export interface ConformanceResult {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** The `[Fail]` lines, for an assertion's message. */
  readonly failures: string;
  readonly output: string;
}

/** Run the suite against `url` in namespace `namespace`; `env` picks the workflows (OCI_TEST_*) and names content. */
export async function runConformance(
  url: string,
  namespace: string,
  env: Record<string, string>,
  extra: readonly string[] = [],
): Promise<ConformanceResult> {
  const result = await run('bash', [CONFORMANCE_SUITE as string, url, namespace, '--', ...extra], {
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const summary = /SUMMARY: total=(\d+) passed=(\d+) failed=(\d+) skipped=(\d+)/.exec(result.stdout);
  if (!summary) throw new Error(`no summary from the conformance suite:\n${result.stdout.slice(-3000)}`);
  return {
    passed: Number(summary[2]),
    failed: Number(summary[3]),
    skipped: Number(summary[4]),
    failures: result.stdout
      .split('\n')
      .filter((line) => line.startsWith('[Fail]'))
      .join('\n'),
    output: result.stdout,
  };
}

/**
 * The whole suite (every workflow) against `dogestry registry` over `remote`, started for it
 * and stopped after: 0 failures, and at least the 74 specs that run (the other 5 are skipped
 * by the suite's own configuration).
 */
export async function assertWholeSuitePasses(remote: string, env: NodeJS.ProcessEnv, namespace: string, reportDir: string): Promise<void> {
  const registry = await startRegistryProcess(remote, [], env);
  let result: ConformanceResult;
  try {
    result = await runConformance(registry.url, namespace, { OCI_REPORT_DIR: reportDir });
  } finally {
    await registry.stop();
  }
  assert.equal(result.failed, 0, result.failures);
  assert.ok(result.passed >= 74, `passed ${result.passed}`);
}
