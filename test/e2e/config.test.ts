/** dogestry.cfg as users keep it: edited in place like git's config, never printing a password. */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/dockerd.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-config-'));
});
after(() => rm(work, { recursive: true, force: true }));

async function dir(name: string): Promise<string> {
  return mkdtemp(join(work, `${name}-`));
}
const cli = (cwd: string, ...args: string[]) =>
  runCli(args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, XDG_CONFIG_HOME: join(cwd, '.config') } });

describe('remote add, rename, set-url and remove edit dogestry.cfg in place', () => {
  it('keeps every comment and the order of the example file', async () => {
    const cwd = await dir('example');
    await copyFile(join(REPO_ROOT, 'dogestry.cfg.example'), join(cwd, 'dogestry.cfg'));
    const original = await readFile(join(cwd, 'dogestry.cfg'), 'utf8');

    const added = await cli(cwd, 'remote', 'add', 'backup', '/srv/backup');
    assert.equal(added.code, 0, added.stderr);
    const afterAdd = await readFile(join(cwd, 'dogestry.cfg'), 'utf8');
    assert.ok(afterAdd.startsWith(original.trimEnd()), 'the file is kept as it was, the new section appended');
    assert.match(afterAdd, /\[remote "backup"\]\nurl = file:\/\/\/srv\/backup\n$/);

    assert.equal((await cli(cwd, 'remote', 'rename', 'backup', 'vault')).code, 0);
    assert.equal((await cli(cwd, 'remote', 'set-url', 'central', 's3://other/repo/?region=eu-west-1')).code, 0);
    const edited = await readFile(join(cwd, 'dogestry.cfg'), 'utf8');
    assert.equal(
      edited,
      afterAdd
        .replace('[remote "backup"]', '[remote "vault"]')
        .replace('s3://ops-goodies/docker-repo/?region=us-west-2', 's3://other/repo/?region=eu-west-1'),
      'only the lines that change change',
    );
    assert.equal((await cli(cwd, 'remote', 'remove', 'vault')).code, 0);
    const withNewUrl = original.replace('s3://ops-goodies/docker-repo/?region=us-west-2', 's3://other/repo/?region=eu-west-1');
    assert.equal(await readFile(join(cwd, 'dogestry.cfg'), 'utf8'), withNewUrl, 'remove takes its section back out, nothing else');
  });

  it('never prints a password, in text or JSON, even one holding / or @', async () => {
    const cwd = await dir('mask');
    const url = 'http://deploy:s3cr/t@pa55@images.example.com/repo/';
    const added = await cli(cwd, 'remote', 'add', 'mirror', url);
    assert.equal(added.code, 0, added.stderr);
    const listed = await cli(cwd, 'remote', 'list');
    const json = await cli(cwd, 'remote', 'list', '--json');
    for (const out of [added.stdout, listed.stdout, json.stdout]) {
      assert.doesNotMatch(out, /s3cr|pa55/);
      assert.match(out, /deploy:\*\*\*@images\.example\.com/);
    }
    assert.match(await readFile(join(cwd, 'dogestry.cfg'), 'utf8'), /s3cr\/t@pa55/, 'the file keeps the real URL');
  });
});

describe('a broken dogestry.cfg is a CONFIG error that says where', () => {
  const cases: [string, string, RegExp][] = [
    ['a line that is not ini', '[remote "a"]\nurl = /x\nthis is not ini\n', /dogestry\.cfg:3: cannot read/],
    ['a duplicate remote', '[remote "a"]\nurl = /x\n[remote "a"]\nurl = /y\n', /dogestry\.cfg:3: \[remote "a"\] appears twice/],
    ['an alias naming another alias', '[remote "a"]\nurl = /x\n[remote "b"]\nurl = a\n', /\[remote "b"\].*url = a, another alias/],
  ];
  for (const [what, text, message] of cases) {
    it(what, async () => {
      const cwd = await dir('broken');
      await writeFile(join(cwd, 'dogestry.cfg'), text);
      const result = await cli(cwd, 'images', 'a');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /CONFIG/);
    });
  }

  it('--config naming a missing file is an error, not an empty config (remote add creates it)', async () => {
    const cwd = await dir('missing');
    const result = await cli(cwd, 'remote', 'list', '--config', join(cwd, 'nope.cfg'));
    assert.equal(result.code, 2);
    assert.match(result.stderr, /nope\.cfg \(from --config\) does not exist.*CONFIG/);
    const created = await cli(cwd, 'remote', 'add', 'a', '/x', '--config', join(cwd, 'new.cfg'));
    assert.equal(created.code, 0, created.stderr);
    assert.match(await readFile(join(cwd, 'new.cfg'), 'utf8'), /\[remote "a"\]/);
  });

  it('remote add refuses to point an alias at another alias', async () => {
    const cwd = await dir('alias');
    assert.equal((await cli(cwd, 'remote', 'add', 'a', '/x')).code, 0);
    const result = await cli(cwd, 'remote', 'add', 'b', 'a');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /a is itself a remote alias/);
  });
});
