import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { DogestryError } from '@dogestry/core';
import { compress, uncompressSync } from 'lz4-napi';
import { blobReadFailure } from '../src/blob-read.ts';
import { decodeBlock } from '../src/lz4-block.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A block as an encoder writes it (lz4-napi answers it behind a 4-byte size). */
async function block(input: Buffer): Promise<Buffer> {
  return (await compress(input)).subarray(4);
}

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

describe('lz4 block decoder (our WebAssembly)', () => {
  it('decodes what lz4_flex compresses, whole or in parts, for every kind of sequence', async () => {
    for (const size of [1, 15, 16, 17, 100, 4096, 65_536, 1024 * 1024, 4 * 1024 * 1024]) {
      const input = layerLike(size);
      const stored = await block(input);
      assert.equal(sha(decodeBlock([stored], stored.length, size)), sha(input), `${size} bytes`);
      // The frame reader hands a block over in the pieces it arrived in.
      const cut = [stored.subarray(0, 3), stored.subarray(3, stored.length >> 1), stored.subarray(stored.length >> 1)];
      assert.equal(sha(decodeBlock(cut, stored.length, size)), sha(input), `${size} bytes, in parts`);
    }
  });

  it('decodes long runs and overlapping matches of every short period', async () => {
    for (let period = 1; period <= 20; period++) {
      const unit = randomBytes(period);
      const input = Buffer.concat([randomBytes(7), ...Array.from({ length: 50_000 / period }, () => unit), randomBytes(9)]);
      const stored = await block(input);
      assert.ok(stored.length < input.length / 10, `period ${period} compresses`);
      assert.equal(sha(decodeBlock([stored], stored.length, input.length)), sha(input), `period ${period}`);
    }
  });

  it('a block that does not decode to exactly its size is FORMAT, naming why', async () => {
    const input = layerLike(300_000);
    const stored = await block(input);
    assert.throws(() => decodeBlock([stored], stored.length, input.length - 1), { code: 'FORMAT', message: /more bytes than/ });
    assert.throws(() => decodeBlock([stored], stored.length, input.length + 1), { code: 'FORMAT', message: /fewer bytes than/ });
    assert.throws(() => decodeBlock([stored.subarray(0, stored.length - 50)], stored.length - 50, input.length), {
      code: 'FORMAT',
    });
    // A first sequence whose match reaches back before the start: 1 literal, offset 2.
    const before = Buffer.from([0x10, 0x41, 0x02, 0x00, 0x00]);
    assert.throws(() => decodeBlock([before], before.length, 100), { code: 'FORMAT', message: /before its start/ });
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
        ours = decodeBlock([bad], bad.length, input.length);
      } catch (error) {
        ours = error as Error;
        assert.equal((error as { code?: string }).code, 'FORMAT', String(error));
      }
      let theirs: Buffer | undefined;
      try {
        const prefixed = Buffer.alloc(4 + bad.length);
        prefixed.writeUInt32LE(input.length, 0);
        bad.copy(prefixed, 4);
        theirs = uncompressSync(prefixed);
        if (theirs.length !== input.length) theirs = undefined;
      } catch {
        theirs = undefined;
      }
      if (ours instanceof Buffer && theirs) assert.equal(sha(ours), sha(theirs), `trial ${trial}: same bytes as lz4_flex`);
    }
    // The decoder is still sound after all that.
    assert.equal(sha(decodeBlock([stored], stored.length, input.length)), sha(input));
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
