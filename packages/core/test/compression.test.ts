import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { COMPRESSIONS, decode, detectEncoding, encoderFor } from '@dogestry/core';

async function run(stage: (s: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>, input: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stage(Readable.from(input))) out.push(chunk);
  return Buffer.concat(out);
}

const sample = (): Buffer[] => {
  const text = Buffer.from('layer bytes that compress well. '.repeat(400_000));
  return [randomBytes(3 * 1024 * 1024), text, randomBytes(17), Buffer.alloc(5 * 1024 * 1024)];
};

describe('layer encodings', () => {
  for (const compression of COMPRESSIONS) {
    it(`round-trips ${compression} and is detected by its magic bytes`, async () => {
      const input = sample();
      const encoded = await run(encoderFor(compression), input);
      assert.equal(detectEncoding(encoded), compression === 'none' ? 'none' : compression);
      // Feed the decoder in awkward chunk sizes so frame boundaries fall mid-chunk.
      const pieces: Buffer[] = [];
      for (let i = 0; i < encoded.length; i += 7_777) pieces.push(encoded.subarray(i, i + 7_777));
      const decoded = await run(decode, pieces);
      assert.equal(createHash('sha256').update(decoded).digest('hex'), createHash('sha256').update(Buffer.concat(input)).digest('hex'));
      if (compression !== 'none') assert.ok(encoded.length < Buffer.concat(input).length * 0.8, 'compressible input shrinks');
    });
  }

  it('writes lz4 as several independent frames, so memory stays bounded', async () => {
    const encoded = await run(encoderFor('lz4'), [randomBytes(9 * 1024 * 1024)]);
    let frames = 0;
    for (
      let i = encoded.indexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]));
      i >= 0;
      i = encoded.indexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]), i + 1)
    )
      frames++;
    assert.ok(frames >= 3, `expected >= 3 frames, saw ${frames}`);
  });

  it('fails on a truncated lz4 stream instead of returning short data', async () => {
    const encoded = await run(encoderFor('lz4'), [randomBytes(1024 * 1024)]);
    await assert.rejects(run(decode, [encoded.subarray(0, encoded.length - 10)]));
  });

  it('refuses zstd with a message that says so', async () => {
    await assert.rejects(run(decode, [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])]), /zstd/);
  });

  it('decodes an empty blob to nothing', async () => {
    assert.equal((await run(decode, [])).length, 0);
  });
});
