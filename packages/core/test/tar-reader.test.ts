/**
 * The streaming tar reader against archives written by GNU tar in its three formats (ustar
 * with a path prefix, GNU long names, pax), fed in awkward chunk sizes, with sinks that make
 * it wait, and against broken input.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type EntrySink, readTar } from '../src/docker/tar-reader.js';
import { FormatError } from '../src/errors.js';

const run = promisify(execFile);
let work: string;
/** Relative path -> content, as put into every archive. */
const files = new Map<string, Buffer>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dogestry-tar-'));
  const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
  files.set('small.txt', Buffer.from('hello\n'));
  files.set('empty', Buffer.alloc(0));
  files.set('exact-block', randomBytes(512));
  files.set('big.bin', randomBytes(3 * 1024 * 1024 + 17));
  files.set(`${longDir}/in-a-long-dir.bin`, randomBytes(1000)); // > 100 chars: ustar prefix, GNU 'L' or pax path
  files.set(`${'n'.repeat(150)}.bin`, randomBytes(700)); // a name alone > 100 chars: no ustar prefix can hold it
  for (const [path, bytes] of files) {
    await mkdir(join(work, 'src', path, '..'), { recursive: true });
    await writeFile(join(work, 'src', path), bytes);
  }
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** ustar cannot hold a file name (past its directory) over 100 bytes. */
const fits = (format: string, path: string): boolean => format !== 'ustar' || path.slice(path.lastIndexOf('/') + 1).length <= 100;

async function archive(format: 'ustar' | 'gnu' | 'pax'): Promise<Buffer> {
  const out = join(work, `${format}.tar`);
  const names = [...files.keys()].filter((p) => fits(format, p));
  await run('tar', [`--format=${format}`, '-cf', out, '-C', join(work, 'src'), ...names]);
  return readFile(out);
}

/** Read `tar` fed in `chunkSize` pieces; every file's content hashed, by name. */
async function readAll(tar: Buffer, chunkSize: number, wait = false): Promise<Map<string, string>> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < tar.length; at += chunkSize) pieces.push(tar.subarray(at, at + chunkSize));
  const seen = new Map<string, string>();
  await readTar(Readable.from(pieces), (entry) => {
    if (entry.type !== 'file') return undefined;
    const hash = createHash('sha256');
    let bytes = 0;
    return {
      write(chunk) {
        hash.update(chunk);
        bytes += chunk.length;
        return wait ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;
      },
      end: async () => {
        assert.equal(bytes, entry.size, `${entry.name}: all its bytes`);
        seen.set(entry.name, hash.digest('hex'));
      },
      abort() {},
    };
  });
  return seen;
}

const expected = (format: string) =>
  new Map([...files].filter(([p]) => fits(format, p)).map(([p, b]) => [p, createHash('sha256').update(b).digest('hex')]));

describe('tar reader', () => {
  for (const format of ['ustar', 'gnu', 'pax'] as const) {
    it(`reads GNU tar's ${format} format, names and contents exact, whatever the chunking`, async () => {
      const tar = await archive(format);
      for (const size of [1, 7, 511, 512, 513, 65536, tar.length]) {
        assert.deepEqual(await readAll(tar, size), expected(format), `chunks of ${size}`);
      }
    });
  }

  it('waits for a sink that asks it to, and still hands every byte over in order', async () => {
    const tar = await archive('pax');
    assert.deepEqual(await readAll(tar, 4096, true), expected('pax'));
  });

  it('refuses a header whose checksum does not match, and aborts the open sink', async () => {
    const tar = await archive('gnu');
    const broken = Buffer.from(tar);
    broken[0] = (broken[0] as number) ^ 0xff; // the first header's name
    await assert.rejects(readAll(broken, 65536), FormatError);
  });

  it('refuses an archive cut in the middle of an entry, aborting that entry', async () => {
    const tar = await archive('ustar');
    let aborted: Error | undefined;
    const cut = tar.subarray(0, tar.indexOf(files.get('big.bin')?.subarray(0, 64) as Buffer) + 100_000);
    await assert.rejects(
      readTar(Readable.from([cut]), (): EntrySink => ({ write: () => undefined, end: async () => {}, abort: (e) => (aborted = e) })),
      /ends in the middle of an entry/,
    );
    assert.ok(aborted instanceof FormatError, 'the open sink was aborted');
  });

  it('passes a sink failure on and reads no further entry', async () => {
    const tar = await archive('ustar');
    const failure = new Error('remote gone');
    const started: string[] = [];
    await assert.rejects(
      readTar(Readable.from([tar]), (entry): EntrySink => {
        started.push(entry.name);
        return {
          write: () => (entry.name === 'big.bin' ? Promise.reject(failure) : undefined),
          end: async () => {},
          abort() {},
        };
      }),
      (error) => error === failure,
    );
    assert.equal(started.at(-1), 'big.bin', 'nothing after the failing entry was started');
  });
});
