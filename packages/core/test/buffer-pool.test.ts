/**
 * Buffers lent by a pool come back only once their last bytes were written, and a writer that
 * gives them back never lets a buffer be reused while the destination still holds its bytes.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { BufferPool, lent, pipeGivingBack, written } from '../src/buffer-pool.ts';
import { FramedCodec } from '../src/framed-codec.ts';
import { decodeBlock } from '../src/lz4-block.ts';
import { lz4Segmenter } from '../src/lz4-frames.ts';

describe('a buffer pool', () => {
  it('lends a buffer until the view holding its last lent byte is written, then lends it again', () => {
    const pool = new BufferPool(64);
    const a = pool.take(40) as Buffer;
    const b = pool.take(40) as Buffer;
    assert.notEqual(a.buffer, b.buffer, 'two loans at once are two buffers');
    assert.equal(a.length, 40);
    assert.ok(lent(a) && lent(a.subarray(10)));
    written(a.subarray(0, 39));
    assert.equal(pool.available, 0, 'not back before its last byte is written');
    written(a.subarray(39));
    assert.equal(pool.available, 1);
    assert.ok(!lent(a));
    written(a.subarray(39));
    assert.equal(pool.available, 1, 'given back once only');
    const c = pool.take(64) as Buffer;
    assert.equal(c.buffer, a.buffer, 'lent again');
    assert.equal(pool.made, 2);
  });

  it('lends nothing larger than its buffers, and ignores buffers it did not lend', () => {
    const pool = new BufferPool(64);
    assert.equal(pool.take(65), undefined);
    written(Buffer.alloc(64));
    assert.equal(pool.available, 0);
  });

  it('decodes lz4 blocks into its buffers', async () => {
    const pool = new BufferPool(1024 * 1024);
    const input = Buffer.from('layer bytes, the same line again and again\n'.repeat(30_000));
    const frames: Buffer[] = [];
    const codec = new FramedCodec(lz4Segmenter, (bytes) => {
      frames.push(bytes);
      return undefined;
    });
    await codec.write(input.subarray(0, 1024 * 1024));
    await codec.end();
    // One frame: header (15), block size (4), the block, end mark (4).
    const frame = Buffer.concat(frames);
    const block = frame.subarray(19, frame.length - 4);
    const out = decodeBlock([block], block.length, 1024 * 1024, pool);
    assert.ok(lent(out), 'decoded into a lent buffer');
    assert.ok(out.equals(input.subarray(0, 1024 * 1024)));
  });
});

describe('a writer that gives lent buffers back', () => {
  /** A destination that takes each chunk's bytes only a moment after it was written, as a busy socket does. */
  function slowDestination(received: Buffer[]): Writable {
    return new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        setImmediate(() => {
          received.push(Buffer.from(chunk));
          callback();
        });
      },
    });
  }

  it('reuses a buffer only after the destination took its bytes', async () => {
    const pool = new BufferPool(4096);
    const sent: Buffer[] = [];
    let n = 0;
    // Each chunk is a pooled buffer filled with its own number: a buffer reused too early
    // would reach the destination holding a later chunk's number.
    const source = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (n === 200) {
          this.push(null);
          return;
        }
        const chunk = pool.take(4096) as Buffer;
        chunk.fill(n % 251);
        sent.push(Buffer.from(chunk));
        n++;
        this.push(chunk);
      },
    });
    const received: Buffer[] = [];
    const destination = slowDestination(received);
    const finished = new Promise<void>((resolve, reject) => {
      destination.once('finish', resolve);
      destination.once('error', reject);
    });
    pipeGivingBack(source, destination);
    await finished;
    assert.equal(received.length, 200);
    for (const [i, chunk] of received.entries()) assert.ok(chunk.equals(sent[i] as Buffer), `chunk ${i} arrived as it was sent`);
    assert.ok(pool.made < 100, `buffers were reused (${pool.made} made for 200 chunks)`);
    assert.equal(pool.available, pool.made, 'every buffer came back');
  });

  it('gives nothing back for a write that failed', async () => {
    const pool = new BufferPool(16);
    const chunk = pool.take(16) as Buffer;
    const destination = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('the socket closed'));
      },
    });
    destination.on('error', () => {});
    const source = Readable.from([chunk], { objectMode: false });
    pipeGivingBack(source, destination);
    await new Promise((resolve) => destination.once('close', resolve));
    assert.equal(pool.available, 0);
    assert.ok(lent(chunk));
  });
});
