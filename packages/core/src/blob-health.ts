import { detectEncoding } from './compression.js';
import type { Remote } from './remote.js';

/** Bytes `offset` to `offset + length` of a stored object (fewer if it is shorter). */
export async function readRange(remote: Remote, key: string, offset: number, length: number): Promise<Buffer> {
  const stream = await remote.read(key, { offset, length });
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= length) break; // a transport that ignores `length`: stop reading
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, length);
}

/**
 * Cheap signs, from a stored layer blob's first 4 and last 1024 bytes, that it was cut short
 * (a truncated file, a copy that died): an lz4 stream without its end mark, an uncompressed
 * tar without its two zero end blocks or not a whole number of blocks. It cannot see a flipped
 * byte in the middle (only `verify` can), and a gzip stream's end is not told apart from its
 * middle without decoding, so gzip passes unless absurdly short.
 */
export async function storedLayerLooksBroken(remote: Remote, key: string, size: number): Promise<boolean> {
  if (size < 4) return true;
  const [head, tail] = await Promise.all([
    readRange(remote, key, 0, 4),
    readRange(remote, key, Math.max(0, size - 1024), Math.min(size, 1024)),
  ]);
  if (head.length < 4 || tail.length !== Math.min(size, 1024)) return true;
  const zeroFrom = (end: number, length: number) => tail.subarray(tail.length - end, tail.length - end + length).every((b) => b === 0);
  switch (detectEncoding(head)) {
    case 'lz4':
      // EndMark (4 zero bytes), optionally followed by a 4-byte content checksum.
      return !(zeroFrom(4, 4) || (tail.length >= 8 && zeroFrom(8, 4)));
    case 'gzip':
      return size < 20;
    case 'zstd':
      return false;
    case 'none':
      return size % 512 !== 0 || size < 1024 || !tail.every((b) => b === 0);
  }
}
