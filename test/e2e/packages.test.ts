/**
 * The packages as users get them: every workspace packed with `npm pack`, the tarballs
 * installed into an empty project outside the repository, then the README's library snippet
 * run there (ESM, and type-checked as TypeScript against the shipped types) and the CLI run
 * from its installed bin, against a real dockerd.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { type Dockerd, REPO_ROOT, startDockerd } from '../support/dockerd.js';
import { buildImageTar } from '../support/synthetic-image.js';

const run = promisify(execFile);
let dockerd: Dockerd;
let work: string;
let project: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-packages-'));
  dockerd = await startDockerd();
  const image = await buildImageTar(join(work, 'images'), 'myapp:1.0', [{ seed: 'pkg-base', size: 2 * 1024 * 1024, kind: 'text' }]);
  await dockerd.docker('load', '-i', image.tarPath);
  const tarballs = join(work, 'tarballs');
  await mkdir(tarballs);
  await run('npm', ['pack', '--workspaces', '--pack-destination', tarballs, '--silent'], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
  project = join(work, 'project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  const files = (await readdir(tarballs)).map((f) => join(tarballs, f));
  // @types/node as a TypeScript user has it: the shipped types speak of Buffer and streams.
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...files, '@types/node@22'], {
    cwd: project,
    maxBuffer: 16 << 20,
  });
});

after(async () => {
  await dockerd?.stop();
  await rm(work, { recursive: true, force: true });
});

it('packs every package with what it needs, and nothing from the repository leaks in', async () => {
  const names = await readdir(join(project, 'node_modules', '@dogestry'));
  assert.deepEqual(names.sort(), ['core', 'server', 'transport-http', 'transport-local', 'transport-s3']);
  assert.ok(existsSync(join(project, 'node_modules', 'dogestry', 'dist', 'main.js')), 'the CLI ships its built entry');
  for (const transport of ['transport-http', 'transport-local', 'transport-s3', 'server']) {
    assert.ok(
      !existsSync(join(project, 'node_modules', '@dogestry', transport, 'node_modules', '@dogestry', 'core')),
      `${transport} uses the one @dogestry/core (a peer), not a copy of its own`,
    );
  }
});

it("runs the README's library snippet as ESM, and type-checks it against the shipped types", async () => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const snippet = /```ts\n(import \{ push, pull \} from '@dogestry\/core';[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, "the README's library snippet");
  const remote = join(work, 'srv-images');
  const code = snippet.replaceAll("'/srv/images'", JSON.stringify(remote));
  await writeFile(join(project, 'snippet.mjs'), code);
  await writeFile(join(project, 'snippet.ts'), `${code}\nexport {};\n`);
  const env = { ...process.env, DOCKER_HOST: dockerd.host, DOCKER_API_VERSION: '1.41', XDG_CACHE_HOME: join(work, 'cache') };
  await run('node', ['snippet.mjs'], { cwd: project, env });
  assert.ok(existsSync(join(remote, 'repositories', 'myapp', '1.0')), 'the snippet pushed');

  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['snippet.ts'],
    }),
  );
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await run('node', [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch((error: { stdout?: string }) => {
    assert.fail(`the snippet does not type-check against the shipped types:\n${error.stdout}`);
  });
});

it('runs the installed CLI', async () => {
  const bin = join(project, 'node_modules', '.bin', 'dogestry');
  const version = await run(bin, ['--version'], { cwd: project });
  assert.match(version.stdout, /^dogestry\/0\.1\.0 /);
  const remote = join(work, 'cli-remote');
  const env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache') };
  await run(bin, ['push', remote, 'myapp:1.0', '--docker-host', dockerd.host, '-q'], { cwd: project, env });
  const images = await run(bin, ['images', remote, '--json'], { cwd: project, env });
  assert.deepEqual(
    (JSON.parse(images.stdout) as { images: { name: string; tag: string }[] }).images.map((i) => `${i.name}:${i.tag}`),
    ['myapp:1.0'],
  );
  // Back into the engine: the text layer was stored as compressed lz4 blocks, which only the
  // shipped codec decodes: its native build on linux-x64 (packages/core/native), which must load
  // from an install, and its WebAssembly build (packages/core/wasm) everywhere.
  assert.ok(existsSync(join(project, 'node_modules', '@dogestry', 'core', 'wasm', 'lz4-block.wasm')), 'core ships its decoder');
  // Likewise its native sha256 (packages/core/native/sha256.linux-x64.node), which pulls hash with.
  const codecs = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "console.log((await import('@dogestry/core/lib/lz4-block')).blockCodecs().map((c) => c.name).join(' '), (await import('@dogestry/core/lib/sha256-native')).nativeHash() ? 'sha256' : '')",
    ],
    { cwd: project },
  );
  const native = process.platform === 'linux' && process.arch === 'x64';
  assert.equal(codecs.stdout.trim(), native ? 'native webassembly sha256' : 'webassembly', 'the installed native builds');
  const imageId = (await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', 'myapp:1.0')).trim();
  await dockerd.docker('rmi', 'myapp:1.0');
  await run(bin, ['pull', remote, 'myapp:1.0', '--docker-host', dockerd.host, '-q'], { cwd: project, env });
  assert.equal((await dockerd.docker('image', 'inspect', '-f', '{{.Id}}', 'myapp:1.0')).trim(), imageId);
});
