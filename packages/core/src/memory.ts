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
 */
const EVERY = 8 * 1024 * 1024;
const collect = (globalThis as { gc?: (options?: { type?: 'major' | 'minor' }) => void }).gc;
let served = 0;
let collections = 0;

/** Count bytes passed on; now and then, free what the earlier ones left behind. */
export function bytesPassed(count: number): void {
  if (!collect) return;
  served += count;
  if (served < EVERY) return;
  served = 0;
  collections++;
  collect({ type: collections % 2 === 0 ? 'major' : 'minor' });
}
