/**
 * How push stores each 1 MiB segment of a layer (lz4-frames.ts frames it): compressed where that
 * saves at least 1/8 of it, else raw. After a segment stored raw, the next one's first 64 KiB
 * are compressed first: where they do not shrink, it is stored raw for 1/16 of the cost of
 * compressing it whole. While segments compress, none is sampled (a sample would be 1/16 more
 * work each). So each segment is judged on the one before, and the same input is always stored
 * the same way. Runs on the encoding thread (encode-thread-entry.ts).
 */
import { encodeBlock } from './lz4-block.js';

/** Keep a compressed segment only if it saves at least 1/8 of it. */
const WORTH = 7 / 8;
/** Bytes at the start of a segment compressed first, to see whether the whole is worth it. */
const SAMPLE = 64 * 1024;

/** The most a compressed block of `length` bytes may take and be kept. */
export const worth = (length: number) => Math.floor(length * WORTH);

/**
 * Encode `input` into `output` (which holds at least `worth(input.length)` bytes) if that is
 * worth it: the block's length, or 0 to store it raw. `afterRaw`: the segment before was stored
 * raw (or there was none).
 */
export function encodeSegment(input: Uint8Array, afterRaw: boolean, output: Uint8Array): number {
  if (afterRaw && input.length > SAMPLE && encodeBlock(input.subarray(0, SAMPLE), output.subarray(0, worth(SAMPLE))) === 0) return 0;
  return encodeBlock(input, output.subarray(0, worth(input.length)));
}
