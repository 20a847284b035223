/**
 * The lz4 block kernels alone, in memory, as dogestry ships them: its native build (Node-API,
 * packages/core/native/) and its WebAssembly build, each through encodeBlock and decodeBlock
 * (packages/core/src/lz4-block.ts: with the WebAssembly build's copies in and out of its memory,
 * decoding into a buffer pool as pull does), on the same 1 MiB blocks as bench/lz4-kernel.c runs
 * its native kernels.
 *   lz4-kernel.mjs FILE ROUNDS  ->  "ours-napi ENCODE_S DECODE_S STORED_BYTES" and "ours-wasm …"
 * Each figure is the fastest of ROUNDS passes, in this thread's CPU seconds. A platform without
 * the native build prints the WebAssembly line only.
 */
import { readFileSync } from 'node:fs';
import { BufferPool, written } from '../packages/core/dist/buffer-pool.js';
import { blockCodecs, decodeBlock, encodeBlock } from '../packages/core/dist/lz4-block.js';

const BLOCK = 1024 * 1024;
const [file, rounds] = process.argv.slice(2);
const data = readFileSync(file);
const now = () => {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1e6;
};
// Decoded into a pool's buffers, each given back at once, as pull's decoding is.
const pool = new BufferPool(BLOCK);
for (const codec of blockCodecs()) {
  const stored = [];
  let bestEncode = Infinity;
  let bestDecode = Infinity;
  let total = 0;
  for (let round = 0; round < Number(rounds); round++) {
    stored.length = 0;
    total = 0;
    let t = now();
    for (let at = 0; at < data.length; at += BLOCK) {
      const block = data.subarray(at, at + BLOCK);
      const output = Buffer.allocUnsafeSlow(Math.floor(block.length / 8) * 7);
      const length = encodeBlock(block, output, codec);
      total += length || block.length;
      stored.push(length ? [output.subarray(0, length), block.length] : undefined);
    }
    bestEncode = Math.min(bestEncode, now() - t);
    t = now();
    for (const block of stored) if (block) written(decodeBlock([block[0]], block[0].length, block[1], pool, codec));
    bestDecode = Math.min(bestDecode, now() - t);
  }
  const name = codec.name === 'native' ? 'ours-napi' : 'ours-wasm';
  console.log(`${name} ${bestEncode.toFixed(3)} ${bestDecode.toFixed(3)} ${total}`);
}
