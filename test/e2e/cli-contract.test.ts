/**
 * The CLI's contract for scripts, walked over every command: a missing argument, an unknown
 * flag, a value outside a flag's options, and a remote that fails each give exactly one JSON
 * document on stdout under --json, with a stable code, and the exit code the README's table
 * gives that code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, type CliResult, runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/dockerd.js';

/** The README's exit code table. */
const EXIT_OF: Record<string, number> = {
  USAGE: 2,
  INVALID_REFERENCE: 2,
  CONFIG: 2,
  UNKNOWN_TRANSPORT: 2,
  NOT_FOUND: 3,
  AMBIGUOUS_REFERENCE: 3,
  DIGEST_MISMATCH: 4,
  FORMAT: 4,
  VERIFY_FAILED: 4,
  AUTH: 5,
  EXPIRED: 5,
  READ_ONLY: 6,
  UNSUPPORTED: 6,
  TRANSPORT: 7,
  ENGINE_UNREACHABLE: 8,
  ENGINE: 8,
  CACHE: 9,
  CACHE_CORRUPT: 9,
  UNSAFE_REMOTE: 4,
  LEGACY_FORMAT: 4,
  UPGRADE_REQUIRED: 4,
  PARTIAL: 10,
  ABORTED: 130,
};

let work: string;
let deadRemote: string;

/** Arguments that satisfy each command, with REMOTE where it takes one. */
const VALID_ARGS: Record<string, string[]> = {
  push: ['REMOTE', 'app:1'],
  pull: ['REMOTE', 'app:1'],
  images: ['REMOTE'],
  tags: ['REMOTE', 'app'],
  rm: ['REMOTE', 'app:1'],
  verify: ['REMOTE'],
  gc: ['REMOTE'],
  presign: ['REMOTE', 'app:1'],
  registry: ['REMOTE'],
  // login asks for a secret first (USAGE without one and no terminal), so the dead-remote row does not fit it.
  login: ['http://127.0.0.1:9/repo/'],
  logout: ['http://127.0.0.1:9/repo/'],
  serve: [],
  'remote add': ['central', '/srv/images'],
  'remote remove': ['central'],
  'remote rename': ['central', 'prod'],
  'remote set-url': ['central', '/srv/images'],
  'remote list': [],
  'cache prune': [],
};

async function commandIds(): Promise<string[]> {
  const dir = join(REPO_ROOT, 'packages', 'cli', 'dist', 'commands');
  const ids: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(d, entry.name));
      else if (entry.name.endsWith('.js')) ids.push(relative(dir, join(d, entry.name)).replace(/\.js$/, '').split('/').join(' '));
    }
  };
  await walk(dir);
  return ids.sort();
}

function oneJsonError(result: CliResult, what: string): { code: string; message: string } {
  let doc: { error?: { code?: unknown; message?: unknown } };
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    assert.fail(`${what}: stdout is not exactly one JSON document:\n${result.stdout.slice(0, 2000)}`);
  }
  const code = doc.error?.code;
  assert.equal(typeof code, 'string', `${what}: no error code in ${result.stdout}`);
  assert.equal(typeof doc.error?.message, 'string');
  assert.equal(result.code, EXIT_OF[code as string], `${what}: ${code} must exit ${EXIT_OF[code as string]}, exited ${result.code}`);
  return doc.error as { code: string; message: string };
}

const cli = (args: string[]) =>
  runCli([...args, '--json'], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', HOME: work, XDG_CACHE_HOME: join(work, 'cache'), DOGESTRY_CONFIG: join(work, 'dogestry.cfg') },
  });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-contract-'));
  // A port that refuses connections: take one, then close it.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  deadRemote = `http://127.0.0.1:${port}/repo/`;
});
after(() => rm(work, { recursive: true, force: true }));

describe('every command keeps the --json contract', () => {
  it('knows every command', async () => {
    assert.deepEqual(await commandIds(), Object.keys(VALID_ARGS).sort(), 'a new command needs a row in VALID_ARGS');
  });

  for (const [id, args] of Object.entries(VALID_ARGS)) {
    const words = id.split(' ');
    const required = args.length > 0;
    if (required) {
      it(`${id}: a missing argument is USAGE`, async () => {
        const error = oneJsonError(await cli(words), `${id} with no arguments`);
        assert.equal(error.code, 'USAGE');
      });
    }
    it(`${id}: an unknown flag is USAGE`, async () => {
      const error = oneJsonError(await cli([...words, ...args.map((a) => (a === 'REMOTE' ? '/nonexistent' : a)), '--no-such-flag']), id);
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, /no-such-flag/);
    });
    if (args.includes('REMOTE')) {
      it(`${id}: a remote that refuses connections is one typed error`, async () => {
        const result = await cli([
          ...words,
          ...args.map((a) => (a === 'REMOTE' ? deadRemote : a)),
          '--docker-host',
          'unix:///nonexistent.sock',
        ]);
        const error = oneJsonError(result, `${id} against a dead server`);
        assert.notEqual(error.code, 'USAGE');
        assert.ok(result.code > 1, `${id}: exit 1 means a bug`);
      });
    }
  }

  it('a value outside a flag’s options is USAGE', async () => {
    const error = oneJsonError(await cli(['push', '/nonexistent', 'app:1', '--compression', 'bogus']), 'push --compression bogus');
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, /compression/);
  });
});

/**
 * Every module (but node's own) the CLI loads running `argv`, from a loader hook: on the built
 * entry, as bin/run.js runs it.
 */
function modulesLoaded(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const hook = `data:text/javascript,${encodeURIComponent(
    `import { registerHooks } from 'node:module'; registerHooks({ load(url, context, next) { if (!url.startsWith('node:')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); } });`,
  )}`;
  const main = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');
  return new Promise<string[]>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', hook, '--input-type=module', '-e', `await (await import(${JSON.stringify(main)})).main(${JSON.stringify(argv)})`],
      { env },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', () =>
      resolve(
        stderr
          .split('\n')
          .filter((l) => l.startsWith('LOADED '))
          .map((l) => l.slice(7)),
      ),
    );
  });
}

describe('the command line itself', () => {
  it('--version prints the version, as text or one JSON document', async () => {
    const text = await cli(['--version']).then(() => runCli(['--version'], { cwd: work }));
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^dogestry\/0\.1\.0 linux-\w+ node-v\d+/);
    const json = await cli(['--version']);
    assert.equal(json.code, 0);
    assert.equal((JSON.parse(json.stdout) as { version: string }).version, '0.1.0');
  });

  it('--version and an unknown command load no command (the start every command pays stays small)', async () => {
    for (const argv of [['--version'], ['pus']]) {
      const loaded = await modulesLoaded(argv);
      assert.ok(
        loaded.some((url) => url.endsWith('/cli/dist/main.js')),
        `the hook saw the entry: ${loaded.join(', ')}`,
      );
      const heavy = loaded.filter((url) => /\/commands\/|\/core\/dist\/index\.js|node_modules/.test(url));
      assert.deepEqual(heavy, [], `${argv.join(' ')} loaded more than the dispatcher`);
    }
  });

  it('a command loads the parts of the library it uses, not the whole library', async () => {
    // `images` of an empty directory: 73 ms against 102 when every command loaded the package's
    // entry points (and with them push, pull, gc, verify and the engine client).
    const home = await mkdtemp(join(tmpdir(), 'dogestry-modules-'));
    try {
      const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
      const core = (loaded: string[]) =>
        loaded.filter((url) => url.includes('/core/dist/')).map((url) => url.replace(/.*\/core\/dist\//, ''));
      for (const [argv, unused] of [
        [
          ['images', home],
          ['index.js', 'internal.js', 'push.js', 'pull.js', 'gc.js', 'verify.js', 'docker/api-engine.js'],
        ],
        [
          ['remote', 'list'],
          ['index.js', 'internal.js', 'push.js', 'pull.js', 'gc.js', 'verify.js', 'docker/api-engine.js'],
        ],
        [
          ['push', '--help'],
          ['index.js', 'internal.js', 'pull.js', 'gc.js', 'verify.js'],
        ],
      ] as const) {
        const loaded = core(await modulesLoaded(argv, env));
        assert.ok(loaded.length > 0, `${argv.join(' ')} loaded the library at all`);
        assert.deepEqual(
          loaded.filter((module) => (unused as readonly string[]).includes(module)),
          [],
          `${argv.join(' ')} loaded ${loaded.join(', ')}`,
        );
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('with no command, or `help`, it lists every command and exits 0', async () => {
    const ids = await commandIds();
    for (const argv of [[], ['--help'], ['help']]) {
      const result = await runCli(argv, { cwd: work });
      assert.equal(result.code, 0, argv.join(' '));
      for (const id of ids) assert.match(result.stdout, new RegExp(`^  ${id} `, 'm'), `${argv.join(' ') || '(nothing)'} lists ${id}`);
    }
  });

  it('a command’s --help shows its arguments and flags, and hides --docker-host where no engine is used', async () => {
    const push = await runCli(['push', '--help'], { cwd: work });
    assert.equal(push.code, 0);
    assert.equal((await runCli(['help', 'push'], { cwd: work })).stdout, push.stdout);
    for (const text of [
      '$ dogestry push REMOTE IMAGE... [FLAGS]',
      '--compression=<option>',
      '[default: lz4]',
      '--docker-host=<value>',
      '-q, --quiet',
      '--json',
      'EXAMPLES',
    ]) {
      assert.ok(push.stdout.includes(text), `push --help shows ${text}`);
    }
    const images = await runCli(['images', '--help'], { cwd: work });
    assert.equal(images.code, 0);
    assert.ok(!images.stdout.includes('--docker-host'), 'images --help offers no engine flag');
    assert.ok(images.stdout.includes('[NAME]'), 'an optional argument is bracketed');
  });

  it('an unknown command is USAGE, suggesting the nearest', async () => {
    const error = oneJsonError(await cli(['pus']), 'pus');
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, /`dogestry push`/);
    const text = await runCli(['remote', 'ad'], { cwd: work });
    assert.equal(text.code, 2);
    assert.match(text.stderr, /unknown command `remote ad`; did you mean `dogestry remote add`/);
    assert.equal(oneJsonError(await cli(['--quiet', 'push']), 'a flag before the command').code, 'USAGE');
  });

  it('a reader that goes away (`| head`) ends the output quietly, not in a crash', async () => {
    const child = spawn(CLI, ['--help'], { cwd: work });
    child.stdout.destroy(); // the write then fails with EPIPE
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('a topic alone runs its default command, or lists its commands', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: work, DOGESTRY_CONFIG: join(work, 'topic.cfg') };
    assert.equal((await runCli(['remote', 'add', 'central', '/srv/images'], { cwd: work, env })).code, 0);
    const remotes = await runCli(['remote', '--json'], { cwd: work, env });
    assert.equal(remotes.code, 0);
    assert.deepEqual((JSON.parse(remotes.stdout) as { remotes: unknown[] }).remotes, [{ name: 'central', url: 'file:///srv/images' }]);
    const cache = await runCli(['cache'], { cwd: work });
    assert.equal(cache.code, 0);
    assert.match(cache.stdout, /^ {2}cache prune {2,}Bound the local pull cache/m);
  });
});
