/**
 * Bounding memory while bytes stream through. Every chunk that passes (read from storage,
 * decoded, encoded, handed to a socket or the engine) is a fresh buffer, dead once passed on;
 * V8 frees such buffers only when it collects their handles, which it starts on its own only
 * once ~64 MiB of them have piled up, and a few streams at once pile that up in a fraction of
 * a second. So a process started with --expose-gc (bin/dogestry does that) collects as bytes
 * pass: a minor GC after every 8 MiB, which frees the buffers that died young (most of them:
 * push's lz4 output, a socket's chunks), and a full one after every 16 MiB for the rest.
 *
 * Measured, 4 interleaved runs each, truly cold real image (735 MB): push peaked at 126-128 MiB
 * with the minor GCs in between, 147-154 MiB with the full GCs alone, in the same time
 * (medians 10.46 and 10.45 s); the synthetic 1 GiB image 122-130 instead of 131-136 MiB; pull
 * from a directory stayed at ~119 MiB either way. Full GCs every 16 MiB alone took the registry
 * with 4 clients pulling a 300 MB lz4 layer at once from 223 MiB to 145 MiB, in 4.28 s instead
 * of 3.94 s (every 8 MiB gave 127 MiB, in 5.25 s). Without --expose-gc (a library user's
 * process) this does nothing.
 *
 * Bytes that leave only young garbage call for minor GCs, and a full one after every 64 MiB
 * for whatever else piles up. Such are:
 * - a direct pull's decoded blocks, in pooled buffers (buffer-pool.ts): what is left is the
 *   read buffers they were decoded or copied from. A cold pull of the bench's real image
 *   (701 MiB) from a directory then makes 10 full GCs instead of 43 (172 ms of GC instead of
 *   496): 2.3-2.7 s of CPU instead of 2.8-3.5, at 102 MiB peak RSS instead of 115-116 (3
 *   interleaved runs; with no full GC at all it peaked at 112-113 MiB);
 * - a direct pull's chunks of a layer stored as is (`--compression none`): the read's own
 *   buffers, which live as long as a pooled block does, until the engine's socket wrote them.
 *   Counted as old, the real image's pull made 43 full GCs of ~10 ms each, and V8's helper
 *   threads marked for as long again; as young, 10: 1.02-1.27 s of user CPU instead of
 *   1.69-2.00, at 95-98 MiB peak RSS instead of 92-94 (4 interleaved runs; a synthetic 1 GiB
 *   image: 1.60-1.93 s instead of 2.36-2.41, 101-102 MiB instead of 95-97);
 * - a push's chunks (layer-encoder.ts), which its body lets go within 2 MiB, before two minor
 *   GCs pass. A full GC costs 10-15 ms at push's heap, and a push made 43 of them.
 */
const EVERY = 8 * 1024 * 1024;
/** A full GC once this many bytes that are not `young` passed since the last one... */
const OLD_MAJOR = 2 * EVERY;
/** ...or once this many bytes passed at all. */
const ANY_MAJOR = 8 * EVERY;
const collect = (globalThis as { gc?: (options?: { type?: 'major' | 'minor' }) => void }).gc;
let served = 0;
let sinceMajor = 0;
let oldSinceMajor = 0;

/**
 * What bytes passed on leave behind: `old` garbage (some of it outlives minor GCs), `young` (it
 * dies young, above), or `brief`: it is dead at once, so collecting twice as often frees it
 * sooner for little work. Such are a push's chunks: each is copied to the encoding thread
 * (encode-thread.ts) and dropped, unless its segment is stored raw. With a minor GC after every
 * 4 MiB of them, the real image pushed at 120-121 MiB peak RSS instead of 130-132, in the same
 * time (3 interleaved pairs: 7.70/8.16/7.76 s against 8.58/7.48/8.70). Pull's chunks are not
 * brief: the same cadence made a pull from a directory slower (6.71-6.91 s against 6.12-6.52)
 * and no smaller.
 */
export type Garbage = 'old' | 'young' | 'brief';

/** Count bytes passed on, by what they leave behind (above); now and then, free what the earlier ones left. */
export function bytesPassed(count: number, garbage: Garbage = 'old'): void {
  if (!collect) return;
  served += garbage === 'brief' ? 2 * count : count;
  sinceMajor += count;
  if (garbage === 'old') oldSinceMajor += count;
  if (served < EVERY) return;
  served = 0;
  const major = oldSinceMajor >= OLD_MAJOR || sinceMajor >= ANY_MAJOR;
  if (major) {
    sinceMajor = 0;
    oldSinceMajor = 0;
  }
  collect({ type: major ? 'major' : 'minor' });
}
