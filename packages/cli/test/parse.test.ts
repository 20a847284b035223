import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from '../src/cli/parse.js';
import { Args, Flags } from '../src/cli/spec.js';

const spec = {
  command: 'dogestry push',
  variadic: true,
  args: {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    image: Args.string({ required: true, description: 'image(s)' }),
  },
  flags: {
    compression: Flags.string({ default: 'lz4', options: ['lz4', 'none'], description: 'how' }),
    as: Flags.string({ description: 'name:tag' }),
    output: Flags.string({ char: 'o', description: 'file' }),
    port: Flags.integer({ default: 22375, description: 'port' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress' }),
  },
};

const usage = (argv: string[], pattern: RegExp) =>
  assert.throws(
    () => parse(argv, spec),
    (error: Error & { code?: string }) =>
      error.code === 'USAGE' && pattern.test(error.message) && /see `dogestry push --help`/.test(error.message),
  );

describe('the command-line parser', () => {
  it('takes flags anywhere, in every spelling, and defaults the rest', () => {
    const parsed = parse(['-q', 'central', '--as=app:2', 'app:1', 'redis', '--port', '2375', '-ofile'], spec);
    assert.deepEqual(parsed.args, { remote: 'central', image: 'app:1' });
    assert.deepEqual(parsed.argv, ['central', 'app:1', 'redis']);
    assert.deepEqual(parsed.flags, { compression: 'lz4', as: 'app:2', output: 'file', port: 2375, quiet: true });
    assert.deepEqual(parse(['central', 'app', '-o', 'x'], spec).flags.output, 'x');
    assert.deepEqual(parse(['central', 'app'], spec).flags.quiet, false);
  });

  it('takes everything after -- as arguments', () => {
    assert.deepEqual(parse(['central', '--', '--as', '-q'], spec).argv, ['central', '--as', '-q']);
  });

  it('refuses what the declaration does not allow, naming it', () => {
    usage(['central', 'app', '--no-such-flag'], /unknown flag --no-such-flag/);
    usage(['central', 'app', '-x'], /unknown flag -x/);
    usage([], /missing REMOTE: remote alias, path or URL/);
    usage(['central'], /missing IMAGE/);
    usage(['central', 'app', '--compression', 'bogus'], /--compression must be one of lz4, none \(got "bogus"\)/);
    usage(['central', 'app', '--port', '80x'], /--port takes a whole number/);
    usage(['central', 'app', '--as'], /--as needs a value/);
    usage(['central', 'app', '--as', '--quiet'], /--as needs a value/);
    usage(['central', 'app', '--quiet=yes'], /--quiet takes no value/);
    usage(['central', 'app', '--as', 'a:1', '--as=b:2'], /--as is given twice/);
    // Inherited names are not flags.
    usage(['central', 'app', '--constructor'], /unknown flag --constructor/);
  });

  it('refuses extra arguments unless the last one is variadic', () => {
    assert.throws(() => parse(['central', 'app', 'extra'], { ...spec, variadic: false }), /unexpected argument "extra"/);
  });
});
