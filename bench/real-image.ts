/**
 * The benchmark's images, made of this machine's real files (no registry needed; the legacy
 * builder works offline):
 *   real/app:1   /usr/bin imported as the base layer, then /usr/lib/python3.11 and
 *                /usr/share/perl added by a Dockerfile: three layers, ~690 MB
 *   real/app:2   the same base and python layers, and /usr/lib/x86_64-linux-gnu/perl as its top
 *                layer instead: one changed real layer, for the delta rows
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The base the other two are built FROM: an engine holding it holds their biggest layer. */
export const REAL_BASE = 'real/base:1';
export const REAL_IMAGE = 'real/app:1';
export const REAL_VARIANT = 'real/app:2';

export async function buildRealImages(host: string, work: string): Promise<void> {
  await run('bash', ['-c', `set -o pipefail; tar -C / -cf - usr/bin | docker -H ${host} import - ${REAL_BASE} >/dev/null`], {
    maxBuffer: 64 << 20,
  });
  for (const [tag, top, source] of [
    [REAL_IMAGE, '/usr/share/perl', '/usr/share/perl'],
    [REAL_VARIANT, '/usr/lib/x86_64-linux-gnu/perl', '/usr/lib/x86_64-linux-gnu/perl'],
  ] as const) {
    const ctx = join(work, `ctx-${tag.replace(/[/:]/g, '-')}`);
    await mkdir(ctx, { recursive: true });
    await cp('/usr/lib/python3.11', join(ctx, 'py'), { recursive: true, verbatimSymlinks: true });
    await cp(source, join(ctx, 'top'), { recursive: true, verbatimSymlinks: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${REAL_BASE}\nCOPY py /usr/lib/python3.11\nCOPY top ${top}\n`);
    await run('docker', ['-H', host, 'build', '-q', '-t', tag, ctx], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      maxBuffer: 64 << 20,
    });
  }
}
