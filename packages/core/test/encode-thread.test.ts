import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { DogestryError } from '@dogestry/core';
import { encodingThread, encodingThreadReady, inPlace, SegmentEncoder } from '../src/encode-thread.ts';
import { encodeSegment, worth } from '../src/lz4-segment.ts';
import { runChildScript } from './support/child-script.ts';

const SEGMENT = 1024 * 1024;

/** A segment of compressible text. */
const text = (seed: number) =>
  Buffer.from(Array.from({ length: SEGMENT / 16 }, (_, i) => `line ${(i * seed) % 977} of file ${seed}\n`).join('')).subarray(0, SEGMENT);
/** 64 KiB that do not compress, then bytes that do: the sample decides, after a raw segment. */
const mixed = (seed: number) => Buffer.concat([randomBytes(64 * 1024), text(seed)]).subarray(0, SEGMENT);

/** How a segment is stored, in short: its block's digest, or `raw` (a failed comparison of whole blocks takes minutes to print). */
const stored = (block: Buffer | undefined) => (block ? createHash('sha256').update(block).digest('hex') : 'raw');

/** What one thread does with `segments` in order: each judged on the one before (lz4-segment.ts). */
function expected(segments: readonly Buffer[]): string[] {
  let afterRaw = true;
  return segments.map((segment) => {
    const output = new Uint8Array(worth(segment.length));
    const written = encodeSegment(segment, afterRaw, output);
    afterRaw = written === 0;
    return stored(written > 0 ? Buffer.from(output.subarray(0, written)) : undefined);
  });
}

/** `segment` in three unequal parts, as a socket delivers it. */
const cut = (segment: Buffer) => [segment.subarray(0, 1000), segment.subarray(1000, 700_000), segment.subarray(700_000)];

/**
 * CPU ticks (user + system) of this process's main thread, and of all its other threads. (By
 * thread name would be closer, but Node 22 does not name a worker's OS thread; 24 does.)
 */
function threadTicks(): { main: number; others: number } {
  const ticks = { main: 0, others: 0 };
  for (const task of readdirSync('/proc/self/task')) {
    const fields = readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    ticks[task === String(process.pid) ? 'main' : 'others'] += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

// A thread that never answers would hang a test: each fails after 30 s instead.
describe('lz4 encoding thread', { timeout: 30_000 }, () => {
  it('stores each stream as one thread would, in order, however streams interleave and segments arrive', async () => {
    // After a raw segment the mixed one is sampled and stored raw; after a compressed one it is compressed.
    const a = [randomBytes(SEGMENT), mixed(1), text(2), mixed(3), randomBytes(SEGMENT), text(4).subarray(0, 300_000)];
    const b = [text(5), mixed(6), randomBytes(SEGMENT), randomBytes(SEGMENT), mixed(7), text(8)];
    const wantA = expected(a);
    const wantB = expected(b);
    assert.deepEqual(
      wantA.map((block) => block !== 'raw'),
      [false, false, true, true, false, true],
      'the sample decides a mixed segment by the one before',
    );
    assert.deepEqual(
      wantB.map((block) => block !== 'raw'),
      [true, true, false, false, false, true],
    );
    // Every segment of both streams is sent to the started thread before the first answer comes.
    await encodingThreadReady();
    const [encoderA, encoderB] = [new SegmentEncoder(), new SegmentEncoder()];
    const sent = a.flatMap((segment, i) => [
      encoderA.encode(cut(segment), segment.length),
      encoderB.encode(cut(b[i] as Buffer), (b[i] as Buffer).length),
    ]);
    const got = (await Promise.all(sent)).map(stored);
    assert.deepEqual(
      got.filter((_, i) => i % 2 === 0),
      wantA,
    );
    assert.deepEqual(
      got.filter((_, i) => i % 2 === 1),
      wantB,
    );
    // Answered one by one, as a frame at a time does: the thread is told how the last one went.
    const one = new SegmentEncoder();
    for (const [i, segment] of a.entries())
      assert.equal(stored(await one.encode([segment], segment.length)), wantA[i], `segment ${i}, alone`);
    encoderA.close();
    encoderB.close();
    one.close();
  });

  it('spends the CPU on its own thread, not the main one', async () => {
    // Real bytes, which take the encoder real work: node's own executable.
    const all = readFileSync(process.execPath);
    const real = all.subarray(0, Math.min(96, Math.floor(all.length / SEGMENT)) * SEGMENT);
    const segments = Array.from({ length: real.length / SEGMENT }, (_, i) => real.subarray(i * SEGMENT, (i + 1) * SEGMENT));
    // What encoding them costs, measured on this thread: the work the thread is to take off it.
    // (A fixed ratio of main to thread broke once the encoder ran natively: the thread's share
    // shrank to ~3x the main thread's copies and messages, near 10 ms ticks' noise.)
    const output = new Uint8Array(worth(SEGMENT));
    const start = threadTicks().main;
    for (const segment of segments) encodeSegment(segment, true, output);
    const work = threadTicks().main - start;
    const encoder = new SegmentEncoder();
    await encodingThreadReady();
    const before = threadTicks();
    // Two at a time, as push sends them (a frame waits while the next is cut).
    let previous: Promise<unknown> = Promise.resolve();
    for (const segment of segments) {
      const sent = encoder.encode([segment], SEGMENT);
      await previous;
      previous = sent;
    }
    await previous;
    const after = threadTicks();
    const main = after.main - before.main;
    const others = after.others - before.others;
    assert.ok(work >= 5, `encoding in place took ${work} ticks`);
    assert.ok(main * 2 < work, `main ${main} ticks, against ${work} to encode them in place`);
    assert.ok(others * 2 > work, `the other threads ${others} ticks, against ${work} to encode them in place`);
    encoder.close();
  });

  it('fails what it was given when it stops (retryable), and the next segment starts another', async () => {
    const encoder = new SegmentEncoder();
    await encoder.encode([text(1)], SEGMENT);
    await encodingThreadReady();
    // Enough work that the thread cannot answer it all before it is stopped, even on a busy
    // machine: 96 MiB of node's executable, ~0.25 s to encode. (48 segments of text, which the
    // native encoder takes ~0.3 ms each, were once all answered before terminate() landed.)
    const all = readFileSync(process.execPath);
    const count = Math.min(96, Math.floor(all.length / SEGMENT));
    const pending = Array.from({ length: count }, (_, i) => encoder.encode([all.subarray(i * SEGMENT, (i + 1) * SEGMENT)], SEGMENT));
    await (encodingThread() as NonNullable<ReturnType<typeof encodingThread>>).terminate();
    for (const result of await Promise.allSettled(pending)) {
      // The first may have been answered before the thread stopped; the others were not.
      if (result.status === 'fulfilled') continue;
      const error = result.reason as DogestryError;
      assert.equal(error.code, 'DOGESTRY');
      assert.equal(error.retryable, true);
      assert.match(error.message, /lz4 encoding thread stopped .*try again/);
    }
    assert.ok(
      (await Promise.allSettled(pending)).some((result) => result.status === 'rejected'),
      'segments waiting failed',
    );
    assert.equal(stored(await new SegmentEncoder().encode([text(9)], SEGMENT)), expected([text(9)])[0]);
  });

  it('ends after two idle seconds, and starts again for the next segment', async () => {
    const encoder = new SegmentEncoder();
    await encoder.encode([text(1)], SEGMENT);
    const first = encodingThread();
    assert.ok(first, 'running after a segment');
    await sleep(2300);
    assert.equal(encodingThread(), undefined, 'ended when idle');
    assert.equal(first.threadId, -1, 'its thread exited');
    // The next segment starts another (and is encoded in place while it starts)…
    assert.equal(stored(await encoder.encode([text(3)], SEGMENT)), expected([text(1), text(3)])[1]);
    assert.ok(encodingThread(), 'running again');
    // …which, once started, is told how the stream's last segment was stored: after a compressed
    // one, a mixed segment is compressed whole, not judged on its sample.
    await encodingThreadReady();
    const next = mixed(2);
    assert.equal(stored(await encoder.encode([next], SEGMENT)), expected([text(1), text(3), next])[2]);
  });

  it('encodes in place while its thread starts, then on the thread, storing what one thread would', async () => {
    await encodingThread()?.terminate(); // a thread to start afresh
    const segments = [randomBytes(SEGMENT), mixed(1), text(2), mixed(3), randomBytes(SEGMENT), mixed(4)];
    const encoder = new SegmentEncoder();
    const before = inPlace;
    const got: string[] = [];
    // The first three while the thread starts: each is done before the next is sent.
    for (const segment of segments.slice(0, 3)) got.push(stored(await encoder.encode([segment], SEGMENT)));
    assert.equal(inPlace - before, 3, 'encoded in place while the thread started');
    await encodingThreadReady();
    got.push(...(await Promise.all(segments.slice(3).map((segment) => encoder.encode([segment], SEGMENT)))).map(stored));
    assert.equal(inPlace - before, 3, 'the rest on the thread');
    assert.deepEqual(got, expected(segments));
    encoder.close();
  });

  it('holds a process open while it encodes, and not once it is idle', async () => {
    // Nothing but the encoding keeps this process alive: it must print, then exit at once.
    const script = `
      import { encodingThreadReady, SegmentEncoder } from '${new URL('../src/encode-thread.ts', import.meta.url).href}';
      await encodingThreadReady(); // else the segment is encoded in place while the thread starts
      const block = await new SegmentEncoder().encode([Buffer.alloc(${SEGMENT}, 'a')], ${SEGMENT});
      console.log(block.length, Date.now());`;
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, '--input-type=module', '-e', script]);
    const exited = Date.now();
    const [length, printed] = stdout.trim().split(' ').map(Number);
    assert.ok((length as number) > 0 && (length as number) < 10_000, `a block of ${length} bytes`);
    assert.ok(
      exited - (printed as number) < 1500,
      `exited ${exited - (printed as number)} ms after its answer (the thread idles for 2000)`,
    );
  });
});

describe('lz4 encoding with one core', { timeout: 30_000 }, () => {
  it('encodes in place, with no thread, and stores what the thread would', async () => {
    // taskset leaves the child one core: availableParallelism() is then 1.
    const segments = [randomBytes(SEGMENT), mixed(1), text(2), mixed(3)];
    const script = (src: string) => `
      import { createHash } from 'node:crypto';
      import { readFileSync } from 'node:fs';
      import { availableParallelism } from 'node:os';
      import { encodingThread, SegmentEncoder } from '${src}/encode-thread.ts';
      const all = readFileSync(process.argv[1]);
      const encoder = new SegmentEncoder();
      const stored = [];
      for (let at = 0; at < all.length; at += ${SEGMENT}) {
        const block = await encoder.encode([all.subarray(at, at + ${SEGMENT})], ${SEGMENT});
        stored.push(block ? createHash('sha256').update(block).digest('hex') : 'raw');
      }
      console.log(JSON.stringify({ cores: availableParallelism(), thread: !!encodingThread(), stored }));`;
    const answer = await runChildScript<{ cores: number; thread: boolean; stored: string[] }>(script, Buffer.concat(segments), {
      name: 'dogestry-one-core-',
      under: ['taskset', '-c', '0'],
    });
    assert.equal(answer.cores, 1);
    assert.equal(answer.thread, false, 'no thread started');
    assert.deepEqual(answer.stored, expected(segments));
  });
});

describe('lz4 encoding with a thread that cannot start', { timeout: 30_000 }, () => {
  it('encodes in place, and starts no thread per segment, when its code is missing', async () => {
    // An installation (or a bundle) without the thread's file: a copy of the sources lacking it.
    const segments = [text(1), mixed(2), randomBytes(SEGMENT)];
    const script = (src: string) => `
      import { createHash } from 'node:crypto';
      import { readFileSync } from 'node:fs';
      import { encodingThread, inPlace, SegmentEncoder } from '${src}/encode-thread.ts';
      const all = readFileSync(process.argv[1]);
      const segments = [0, 1, 2].map((i) => all.subarray(i * ${SEGMENT}, (i + 1) * ${SEGMENT}));
      const encoder = new SegmentEncoder();
      const stored = [];
      const digest = (block) => (block ? createHash('sha256').update(block).digest('hex') : 'raw');
      stored.push(digest(await encoder.encode([segments[0]], ${SEGMENT})));
      while (encodingThread()) await new Promise((resolve) => setTimeout(resolve, 20)); // it fails to start
      for (const segment of segments.slice(1)) stored.push(digest(await encoder.encode([segment], ${SEGMENT})));
      console.log(JSON.stringify({ inPlace, thread: !!encodingThread(), stored }));`;
    const answer = await runChildScript<{ inPlace: number; thread: boolean; stored: string[] }>(script, Buffer.concat(segments), {
      name: 'dogestry-no-thread-',
      copy: { folders: ['src', 'wasm'], omit: ['src/encode-thread-entry.ts'] },
    });
    assert.equal(answer.thread, false, 'no second thread started');
    assert.equal(answer.inPlace, 3);
    assert.deepEqual(answer.stored, expected(segments));
  });
});
