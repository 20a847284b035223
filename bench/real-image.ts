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

/** A directory of this machine (relative to /, as `usr/bin`) imported as a one-layer image. */
export async function importDir(host: string, dir: string, tag: string): Promise<void> {
  await run('bash', ['-c', `set -o pipefail; tar -C / -cf - ${dir} | docker -H ${host} import - ${tag} >/dev/null`], {
    maxBuffer: 64 << 20,
  });
}

/** `tag`, built FROM `base` with a COPY layer for each [source, destination] (the legacy builder works offline). */
export async function buildOnto(host: string, ctx: string, base: string, tag: string, copies: readonly [string, string][]): Promise<void> {
  await mkdir(ctx, { recursive: true });
  const lines = [`FROM ${base}`];
  for (const [i, [source, destination]] of copies.entries()) {
    await cp(source, join(ctx, `c${i}`), { recursive: true, verbatimSymlinks: true });
    lines.push(`COPY c${i} ${destination}`);
  }
  await writeFile(join(ctx, 'Dockerfile'), `${lines.join('\n')}\n`);
  await run('docker', ['-H', host, 'build', '-q', '-t', tag, ctx], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    maxBuffer: 64 << 20,
  });
}

export async function buildRealImages(host: string, work: string): Promise<void> {
  await importDir(host, 'usr/bin', REAL_BASE);
  for (const [tag, top] of [
    [REAL_IMAGE, '/usr/share/perl'],
    [REAL_VARIANT, '/usr/lib/x86_64-linux-gnu/perl'],
  ] as const) {
    await buildOnto(host, join(work, `ctx-${tag.replace(/[/:]/g, '-')}`), REAL_BASE, tag, [
      ['/usr/lib/python3.11', '/usr/lib/python3.11'],
      [top, top],
    ]);
  }
}
