import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { DogestryError } from '@dogestry/core';
import { encoderFor } from '@dogestry/core/internal';
import { compress, uncompressSync } from 'lz4-napi';
import { blobReadFailure } from '../src/blob-read.ts';
import { BufferPool } from '../src/buffer-pool.ts';
import { decodeInto } from '../src/compression.ts';
import * as lz4 from '../src/lz4-block.ts';
import { type BlockCodec, blockCodecs, decodeBlock, encodeBlock } from '../src/lz4-block.ts';
import { runChildScript } from './support/child-script.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A block as an encoder writes it (lz4-napi answers it behind a 4-byte size). */
async function block(input: Buffer): Promise<Buffer> {
  return (await compress(input)).subarray(4);
}

/** lz4_flex's reading of a block that holds `size` bytes (an independent decoder). */
const theirRead = (block: Buffer, size: number): Buffer => {
  const prefixed = Buffer.alloc(4 + block.length);
  prefixed.writeUInt32LE(size, 0);
  block.copy(prefixed, 4);
  return uncompressSync(prefixed);
};

/** Bytes like a layer's: tar-like zero padding, repeated text, short periods, random runs. */
function layerLike(size: number): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  let i = 0;
  while (length < size) {
    const kind = i++ % 5;
    const part =
      kind === 0
        ? Buffer.alloc(500 + (i % 3000))
        : kind === 1
          ? Buffer.from(`usr/lib/python3.11/file-${i}.py line of source text\n`.repeat(1 + (i % 40)))
          : kind === 2
            ? Buffer.from('ab'.repeat(1 + (i % 700)) + 'abc'.repeat(1 + (i % 300)))
            : kind === 3
              ? randomBytes(1 + (i % 4000))
              : Buffer.from('0123456789abcdef'.repeat(1 + (i % 90)));
    parts.push(part);
    length += part.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

for (const codec of blockCodecs()) {
  describe(`lz4 block decoder (${codec.name})`, () => {
    const decode = (parts: Buffer[], length: number, size: number) => decodeBlock(parts, length, size, undefined, codec);

    it('decodes what lz4_flex compresses, whole or in parts, for every kind of sequence', async () => {
      for (const size of [1, 15, 16, 17, 100, 4096, 65_536, 1024 * 1024, 4 * 1024 * 1024]) {
        const input = layerLike(size);
        const stored = await block(input);
        assert.equal(sha(decode([stored], stored.length, size)), sha(input), `${size} bytes`);
        // The frame reader hands a block over in the pieces it arrived in.
        const first = Math.min(3, stored.length);
        const half = Math.max(first, stored.length >> 1);
        const cut = [stored.subarray(0, first), stored.subarray(first, half), stored.subarray(half)];
        assert.equal(sha(decode(cut, stored.length, size)), sha(input), `${size} bytes, in parts`);
      }
    });

    it('decodes long runs and overlapping matches of every short period', async () => {
      for (let period = 1; period <= 20; period++) {
        const unit = randomBytes(period);
        const input = Buffer.concat([randomBytes(7), ...Array.from({ length: 50_000 / period }, () => unit), randomBytes(9)]);
        const stored = await block(input);
        assert.ok(stored.length < input.length / 10, `period ${period} compresses`);
        assert.equal(sha(decode([stored], stored.length, input.length)), sha(input), `period ${period}`);
      }
    });

    it('a block that does not decode to exactly its size is FORMAT, naming why', async () => {
      const input = layerLike(300_000);
      const stored = await block(input);
      assert.throws(() => decode([stored], stored.length, input.length - 1), { code: 'FORMAT', message: /more bytes than/ });
      assert.throws(() => decode([stored], stored.length, input.length + 1), { code: 'FORMAT', message: /fewer bytes than/ });
      assert.throws(() => decode([stored.subarray(0, stored.length - 50)], stored.length - 50, input.length), {
        code: 'FORMAT',
      });
      // A first sequence whose match reaches back before the start: 1 literal, offset 2.
      const before = Buffer.from([0x10, 0x41, 0x02, 0x00, 0x00]);
      assert.throws(() => decode([before], before.length, 100), { code: 'FORMAT', message: /before its start/ });
    });

    it('takes any bytes as a block: an error code or exactly the size asked for, and never writes past its output', () => {
      // Hostile blocks (a remote's bytes reach the decoder before their digest is known): the
      // native build has no WebAssembly sandbox around it, so its bounds are all there is.
      let seed = 12345;
      const random = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed;
      };
      let decoded = 0;
      for (let trial = 0; trial < 3000; trial++) {
        const block = Buffer.alloc(16 + (random() % 512));
        for (let i = 0; i < block.length; i++) block[i] = random() & (trial % 3 === 0 ? 0x1f : 0xff);
        // Sizes small and large: a block that holds more than its frame says must stop at its end.
        let size = 1 + (random() % (trial % 2 === 0 ? 8192 : 96));
        if (trial % 7 === 0) {
          // A well-formed one now and then: a last sequence of literals only.
          size = 1 + (random() % 14);
          block[0] = size << 4;
          block.fill(0x61, 1, 1 + size);
        }
        const input = trial % 7 === 0 ? block.subarray(0, 1 + size) : block;
        const output = Buffer.alloc(size + 64, 0xee);
        let written: number;
        try {
          written = codec.decode([input], input.length, output.subarray(0, size));
        } catch (error) {
          assert.fail(`trial ${trial}: threw ${String(error)}`);
        }
        assert.ok(written === size || (written < 0 && written >= -4), `trial ${trial}: answered ${written}`);
        assert.ok(
          output.subarray(size).every((byte) => byte === 0xee),
          `trial ${trial}: wrote past its output`,
        );
        if (written === size) decoded++;
      }
      assert.ok(decoded >= 3000 / 7, `${decoded} of 3000 decoded, the well-formed ones at least`);
    });

    it('agrees with lz4_flex on damaged blocks (both refuse, or both decode the same bytes), and fails only with FORMAT', async () => {
      // Agreement with lz4_flex on every damaged block: both refuse it, or both decode it to the
      // same bytes (a damaged literal is still a valid block; the layer digest catches those).
      const input = layerLike(200_000);
      const stored = await block(input);
      for (let trial = 0; trial < 400; trial++) {
        const bad = Buffer.from(stored);
        for (let k = 0; k <= trial % 4; k++) {
          const at = (trial * 7919 + k * 104_729) % bad.length;
          bad[at] = (bad[at] as number) ^ (1 + ((trial + k) % 255));
        }
        let ours: Buffer | Error;
        try {
          ours = decode([bad], bad.length, input.length);
        } catch (error) {
          ours = error as Error;
          assert.equal((error as { code?: string }).code, 'FORMAT', String(error));
        }
        let theirs: Buffer | undefined;
        try {
          theirs = theirRead(bad, input.length);
          if (theirs.length !== input.length) theirs = undefined;
        } catch {
          theirs = undefined;
        }
        if (ours instanceof Buffer && theirs) assert.equal(sha(ours), sha(theirs), `trial ${trial}: same bytes as lz4_flex`);
      }
      // The decoder is still sound after all that.
      assert.equal(sha(decode([stored], stored.length, input.length)), sha(input));
    });
  });
}

/** Inputs whose sequences sit at every distance from the ends of a block. */
function edgeCases(): Buffer[] {
  const inputs: Buffer[] = [];
  for (let size = 1; size <= 40; size++) {
    inputs.push(Buffer.alloc(size, 0x61), layerLike(size), randomBytes(size));
    // A match that would reach into the last 5 bytes, or start in the last 12.
    inputs.push(Buffer.concat([randomBytes(size), Buffer.from('0123456789abcdef0123456789abcdef'), randomBytes(size % 7)]));
  }
  for (const size of [65_535, 65_536, 65_537, 70_000, 300_001]) inputs.push(layerLike(size));
  // The same 4 KiB 64 KiB apart and 64 KiB - 1 apart: just out of reach, just in reach.
  const unit = randomBytes(4096);
  inputs.push(Buffer.concat([unit, randomBytes(65_536 - 4096), unit]), Buffer.concat([unit, randomBytes(65_535 - 4096), unit]));
  return inputs;
}

/**
 * Where the block's last match starts and ends in its output, walking its sequences: the
 * format wants the last match to start at least 12 bytes before the end and end at least 5
 * before it (decoders that skip bounds checks rely on it; the ones here do not notice).
 */
function lastMatch(block: Buffer): { start: number; end: number } {
  let ip = 0;
  let out = 0;
  let last = { start: 0, end: 0 };
  const length = (n: number) => {
    if (n !== 15) return n;
    let byte: number;
    do {
      byte = block[ip++] as number;
      n += byte;
    } while (byte === 255);
    return n;
  };
  for (;;) {
    const token = block[ip++] as number;
    const literals = length(token >> 4);
    ip += literals;
    out += literals;
    if (ip >= block.length) return last;
    ip += 2;
    const match = length(token & 15) + 4;
    last = { start: out, end: out + match };
    out += match;
  }
}

/** Room for any block of `n` bytes: LZ4's worst case (all literals) and our encoder's margin. */
const room = (n: number) => n + Math.ceil(n / 255) + 64;

/** `input` encoded in at most `budget` bytes, or undefined: it takes more. */
function encoded(input: Uint8Array, budget: number, codec?: BlockCodec): Buffer | undefined {
  const output = new Uint8Array(budget);
  const written = encodeBlock(input, output, codec);
  return written > 0 ? Buffer.from(output.subarray(0, written)) : undefined;
}

for (const codec of blockCodecs()) {
  describe(`lz4 block encoder (${codec.name})`, () => {
    const encodedBy = (input: Uint8Array, budget: number) => encoded(input, budget, codec);
    const decode = (parts: Buffer[], length: number, size: number) => decodeBlock(parts, length, size, undefined, codec);

    it('writes blocks that lz4_flex and our decoder read back, for every kind of input', () => {
      const inputs = [...edgeCases(), ...[1024 * 1024, 4 * 1024 * 1024].map(layerLike), Buffer.alloc(1024 * 1024)];
      for (const input of inputs) {
        const block = encodedBy(input, room(input.length));
        assert.ok(block, `${input.length} bytes encode within LZ4's bound`);
        assert.equal(sha(decode([block], block.length, input.length)), sha(input), `${input.length} bytes, our decoder`);
        assert.equal(sha(theirRead(block, input.length)), sha(input), `${input.length} bytes, lz4_flex`);
        const { start, end } = lastMatch(block);
        if (end > 0) assert.ok(start <= input.length - 12 && end <= input.length - 5, `${input.length} bytes: a match at ${start}-${end}`);
      }
      const zeros = encodedBy(Buffer.alloc(1024 * 1024), 1024 * 1024) as Buffer;
      assert.ok(zeros.length < 5000, `a run of zeros shrinks to ${zeros.length} bytes`);
    });

    it('never answers more than its budget: it gives up instead', () => {
      const input = layerLike(200_000);
      const fits = (encodedBy(input, room(input.length)) as Buffer).length;
      let given = 0;
      for (let budget = 1; budget < fits + 64; budget += 1 + (budget >> 9)) {
        const block = encodedBy(input, budget);
        if (!block) continue;
        given++;
        assert.ok(block.length <= budget, `${block.length} bytes for a budget of ${budget}`);
        assert.equal(sha(decode([block], block.length, input.length)), sha(input));
      }
      assert.ok(given > 0, 'some budgets are enough');
      assert.equal(encodedBy(randomBytes(1024 * 1024), 7 * 128 * 1024), undefined, 'random bytes do not fit 7/8');
    });
  });
}

describe('lz4 frames (the build in use)', () => {
  it('writes what the lz4 tool reads: frames of every edge case, concatenated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dogestry-lz4-block-'));
    try {
      const inputs: Buffer[] = [];
      // Those the encoder stores compressed (a frame is kept compressed if it saves 1/8).
      for (const input of edgeCases()) if (encoded(input, Math.floor((input.length * 7) / 8))) inputs.push(input);
      const frames: Buffer[] = [];
      for (const input of inputs) {
        for await (const chunk of encoderFor('lz4')(Readable.from([input]))) frames.push(chunk);
      }
      await writeFile(join(dir, 'all.lz4'), Buffer.concat(frames));
      const { stdout } = await promisify(execFile)('lz4', ['-d', '-c', join(dir, 'all.lz4')], { encoding: 'buffer', maxBuffer: 64 << 20 });
      assert.equal(sha(stdout), sha(Buffer.concat(inputs)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('lz4 block codec builds (native, WebAssembly)', () => {
  const native = blockCodecs().find((codec) => codec.name === 'native');

  it('uses the native build on linux-x64, where one is committed', () => {
    const expected = process.platform === 'linux' && process.arch === 'x64' ? ['native', 'webassembly'] : ['webassembly'];
    assert.deepEqual(
      blockCodecs().map((codec) => codec.name),
      expected,
    );
  });

  it('both write the same blocks, and give up at the same budgets', { skip: !native && 'no native build here' }, () => {
    const [own, wasm] = blockCodecs() as [BlockCodec, BlockCodec];
    const inputs = [...edgeCases(), ...[1024 * 1024, 4 * 1024 * 1024].map(layerLike), randomBytes(1024 * 1024)];
    for (const input of inputs) {
      for (const budget of [room(input.length), Math.floor((input.length * 7) / 8), input.length >> 2]) {
        const ours = encoded(input, budget, own);
        const theirs = encoded(input, budget, wasm);
        assert.equal(ours && sha(ours), theirs && sha(theirs), `${input.length} bytes in ${budget}`);
      }
    }
  });

  it("decodes on libuv's thread pool as it does in place: the same bytes, the same refusals, many at once", {
    skip: !native && 'no native build here',
  }, async () => {
    const own = native as BlockCodec;
    assert.ok(own.decodeLater, 'the native build decodes later');
    // Real blocks, whole and in parts (joined into buffers of its own), and damaged ones.
    const inputs = [...edgeCases(), layerLike(1024 * 1024), layerLike(300_000)].filter((input) => input.length > 0);
    const cases: { parts: Buffer[]; length: number; size: number; input?: Buffer }[] = [];
    for (const input of inputs) {
      const block = encoded(input, room(input.length), own);
      if (!block) continue;
      const cut = block.length >> 1;
      cases.push({ parts: [block], length: block.length, size: input.length, input });
      if (cut > 0) cases.push({ parts: [block.subarray(0, cut), block.subarray(cut)], length: block.length, size: input.length, input });
      const damaged = Buffer.from(block);
      const at = damaged.length >> 2;
      damaged.writeUInt8((damaged.readUInt8(at) ^ 0xff) & 0xff, at);
      cases.push({ parts: [damaged], length: damaged.length, size: input.length });
      cases.push({ parts: [block], length: block.length, size: input.length + 1 });
    }
    // All at once: each on its own output, guarded by 64 bytes that must stay untouched.
    const outputs = cases.map(({ size }) => Buffer.alloc(size + 64, 0xee));
    const later = await Promise.all(
      cases.map(({ parts, length, size }, i) =>
        (own.decodeLater as NonNullable<BlockCodec['decodeLater']>)(parts, length, (outputs[i] as Buffer).subarray(0, size)),
      ),
    );
    for (const [i, { parts, length, size, input }] of cases.entries()) {
      // A real block, whole or in parts, decodes to its input.
      if (input) assert.ok(later[i] === size && (outputs[i] as Buffer).subarray(0, size).equals(input), `case ${i}: its input back`);
      const now = Buffer.alloc(size);
      const written = own.decode(parts, length, now);
      assert.equal(later[i], written, `case ${i}: the same answer`);
      const output = outputs[i] as Buffer;
      if (written === size) assert.ok(output.subarray(0, size).equals(now), `case ${i}: the same bytes`);
      assert.ok(
        output.subarray(size).every((byte) => byte === 0xee),
        `case ${i}: wrote past its output`,
      );
    }
    assert.ok(later.filter((w, i) => w === cases[i]?.size).length >= inputs.length, 'the whole blocks decoded');
    assert.ok(
      later.some((w) => w < 0),
      'the damaged ones were refused',
    );
  });

  it("a layer's compressed frames decode on the thread pool, with a second core", async () => {
    const input = Buffer.concat([layerLike(3 * 1024 * 1024), randomBytes(1024 * 1024)]);
    const stored: Buffer[] = [];
    for await (const chunk of encoderFor('lz4')(Readable.from([input]))) stored.push(chunk);
    const before = lz4.decodedLater;
    const out: Buffer[] = [];
    await decodeInto(
      Readable.from(stored),
      (chunk) => {
        out.push(Buffer.from(chunk));
        return undefined;
      },
      new BufferPool(1024 * 1024),
    );
    assert.equal(sha(Buffer.concat(out)), sha(input));
    assert.equal(
      lz4.decodedLater - before,
      native && availableParallelism() > 1 ? 3 : 0,
      'the 3 compressed frames (the random one is stored raw)',
    );
  });

  it('the native build refuses arguments that are not two Uint8Arrays, without touching memory', {
    skip: !native && 'no native build here',
  }, () => {
    const module = createRequire(import.meta.url)(new URL('../native/lz4-block.linux-x64.node', import.meta.url).pathname) as {
      encode(...args: unknown[]): number;
      decode(...args: unknown[]): number;
      decodeLater(...args: unknown[]): void;
    };
    const bytes = Buffer.alloc(64);
    for (const call of [module.encode, module.decode, (...args: unknown[]) => module.decodeLater(...args, () => {})]) {
      for (const args of [[], [bytes], ['text', bytes], [bytes, new Float64Array(8)], [bytes, {}], [bytes.buffer, bytes]]) {
        assert.throws(() => call(...args), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, `${call.name}(${args.length} arguments)`);
      }
    }
    assert.equal(module.decode(Buffer.from([0x10, 0x41]), Buffer.alloc(1)), 1, 'one literal decodes');
  });

  /** What a copy of core's `folders` under a directory named `name` runs, encoding and decoding `input`. */
  const inACopy = (name: string, folders: string[], input: Buffer) =>
    runChildScript<{ codecs: string[]; block: string; back: string }>(
      (src) => `
        import { createHash } from 'node:crypto';
        import { readFileSync } from 'node:fs';
        import { blockCodecs, decodeBlock, encodeBlock } from '${src}/lz4-block.ts';
        const input = readFileSync(process.argv[1]);
        const output = Buffer.alloc(input.length);
        const block = output.subarray(0, encodeBlock(input, output));
        const back = decodeBlock([block], block.length, input.length);
        const sha = (b) => createHash('sha256').update(b).digest('hex');
        console.log(JSON.stringify({ codecs: blockCodecs().map((c) => c.name), block: sha(block), back: sha(back) }));`,
      input,
      { name, copy: { folders } },
    );

  it('an installation without the native build encodes and decodes with WebAssembly, to the same bytes', async () => {
    const input = layerLike(1024 * 1024);
    const answer = await inACopy('dogestry-no-native-', ['src', 'wasm'], input);
    assert.deepEqual(answer.codecs, ['webassembly']);
    assert.equal(answer.block, sha(encoded(input, input.length) as Buffer), 'the same block as the build in use here');
    assert.equal(answer.back, sha(input));
  });

  it('loads the native build from an installation whose path a URL escapes (a space, a #)', {
    skip: !native && 'no native build here',
  }, async () => {
    const input = layerLike(256 * 1024);
    const answer = await inACopy('dogestry with space #', ['src', 'wasm', 'native'], input);
    assert.deepEqual(answer.codecs, ['native', 'webassembly']);
    assert.equal(answer.block, sha(encoded(input, input.length) as Buffer));
    assert.equal(answer.back, sha(input));
  });
});

describe('what a failure while reading a stored blob means', () => {
  const key = 'blobs/sha256/ab';
  it('a decoder that did not load is our installation, not the remote or its bytes', () => {
    const missing = Object.assign(new Error('Cannot find module'), { code: 'MODULE_NOT_FOUND' });
    assert.equal(blobReadFailure(missing, key, 'file:///r', 'ab'), missing);
  });
  it("an I/O error is the transport's (retryable); bytes that do not decode are DIGEST_MISMATCH", () => {
    const io = blobReadFailure(Object.assign(new Error('read failed'), { code: 'EIO' }), key, 'file:///r', 'ab');
    assert.equal((io as DogestryError).code, 'TRANSPORT');
    assert.equal((io as DogestryError).retryable, true);
    const bad = blobReadFailure(Object.assign(new Error('incorrect header check'), { code: 'Z_DATA_ERROR' }), key, 'file:///r', 'ab');
    assert.equal((bad as DogestryError).code, 'DIGEST_MISMATCH');
  });
});
