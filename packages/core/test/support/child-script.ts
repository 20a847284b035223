import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/** Where core's folders are in this checkout. */
const CORE = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildScript {
  /** Run it against a copy of these of core's folders (an installation or bundle that differs), not this checkout. */
  readonly copy?: { readonly folders: readonly string[]; readonly omit?: readonly string[] };
  /** The scratch directory's name (a prefix: mkdtemp adds to it). */
  readonly name?: string;
  /** A command the child runs under (`taskset -c 0`). */
  readonly under?: readonly string[];
}

/**
 * Run an ES module in a child node, with the tests' loader flags, and answer what it printed as
 * JSON. `script` is given the URL of core's src/ directory (the copy's, with `copy`), and the
 * child's argv[1] is a file holding `input`.
 */
export async function runChildScript<T>(script: (src: string) => string, input: Buffer, options: ChildScript = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), options.name ?? 'dogestry-child-'));
  try {
    let core = CORE;
    if (options.copy) {
      core = dir;
      for (const folder of options.copy.folders) await cp(join(CORE, folder), join(dir, folder), { recursive: true });
      for (const path of options.copy.omit ?? []) await rm(join(dir, path));
      await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    }
    const file = join(dir, 'input');
    await writeFile(file, input);
    const [command, ...args] = [...(options.under ?? []), process.execPath];
    const source = script(pathToFileURL(join(core, 'src')).href);
    const { stdout } = await promisify(execFile)(command as string, [
      ...args,
      ...process.execArgv,
      '--input-type=module',
      '-e',
      source,
      file,
    ]);
    return JSON.parse(stdout) as T;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
