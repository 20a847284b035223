/**
 * One encoding or decoding of a file as push and pull run it, in a process of its own (as the
 * `lz4` and `zstd` tools run): `codec-run.mjs encode CODEC IN OUT` or `codec-run.mjs decode IN OUT`.
 * OUT may be /dev/null. bench/codecs.ts times it with GNU time. Plain JavaScript on the built
 * packages, so that the timing holds node's start (~0.05 s) and no TypeScript compiler.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
// The codec's own modules, not the package's entry points: those load the whole library (the
// engine client, the transports; ~0.04 s of CPU a process here), which no codec runs. The
// main table's --version row measures what the CLI's start costs.
import { BufferPool, pipeGivingBack } from '../packages/core/dist/buffer-pool.js';
import { decode, encoderFor, parseCompression } from '../packages/core/dist/compression.js';
import { SEGMENT } from '../packages/core/dist/lz4-frames.js';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'encode') {
  const [codec, input, output] = args;
  await pipeline(createReadStream(input, { highWaterMark: 256 * 1024 }), encoderFor(parseCompression(codec)), createWriteStream(output));
} else if (mode === 'decode') {
  // As a cold pull from a directory decodes: into a buffer pool, each buffer given back once
  // written (the engine's request writer does the same).
  const [input, output] = args;
  const out = createWriteStream(output);
  pipeGivingBack(
    Readable.from(decode(createReadStream(input, { highWaterMark: 1024 * 1024 }), new BufferPool(SEGMENT)), { objectMode: false }),
    out,
  );
  await finished(out);
} else {
  throw new Error('usage: codec-run.mjs encode CODEC IN OUT | decode IN OUT');
}
