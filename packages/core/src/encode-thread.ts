/**
 * lz4 encoding on a thread of its own. Encoding takes ~2.5 ms a MiB, and a push's main thread
 * already reads the engine's save, hashes every byte and writes the stored form: there the
 * encoder made it the limit (a push of the bench's real image spent 2.5-3 s of its ~5.5 s
 * stream phase encoding, in 64 KiB slices between turns of the event loop).
 *
 * Here the main thread copies each 1 MiB segment into a buffer it hands to the thread
 * (transferred, not copied, and given back with the answer for the next segment), with one for
 * the block, and goes on reading while the thread encodes. A segment stored raw is stored from
 * the engine's own chunks, as before: no copy is kept. Segments queue on the thread: each is
 * judged on the one before (lz4-segment.ts), which the thread has just done, so the main
 * thread need not wait for one answer before it sends the next segment. (Memory shared with
 * the thread costs ~5x as much to copy in and out of: V8 copies a SharedArrayBuffer's bytes
 * with relaxed atomics, ~0.13 ms a MiB against ~0.025 for an ArrayBuffer's.)
 *
 * One thread for the process, started by the first segment. It takes ~0.1 s to load its code:
 * meanwhile segments are encoded in place, so a small image's push does not wait for it (a 26
 * MB image of real files, 7 interleaved runs: 0.67 s against 0.73 s, median). It holds the
 * process open only while it has segments, and ends after IDLE ms without any, so a library
 * user's process keeps no thread (a worker thread costs ~13 MiB) between pushes. With one
 * core, no thread at all; with a thread that cannot start (its file left out of a bundle), in
 * place too.
 */
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EncodeReady, EncodeReply, EncodeRequest } from './encode-thread-entry.js';
import { DogestryError } from './errors.js';
import { copyParts, releaseEncoder } from './lz4-block.js';
import { encodeSegment, worth } from './lz4-segment.js';

/** How long the thread waits for another segment before it ends. */
const IDLE = 2000;
/**
 * With one core a thread has no core of its own to run on and still costs its memory: there,
 * segments are encoded in place, one call each (as sha256.ts hashes in place below 3 cores).
 */
const IN_PLACE = availableParallelism() < 2;

/** The thread stopped before it answered. */
type Failure = { readonly stopped: Error };

interface Thread {
  readonly worker: Worker;
  /** The thread has loaded its code (its first message said so): until then, segments are encoded in place. */
  online: boolean;
  /** Settle its segments, in the order they were sent (the thread answers in that order). */
  readonly waiting: ((reply: EncodeReply | Failure) => void)[];
  idle?: NodeJS.Timeout;
}

let thread: Thread | undefined;
/** A thread failed to start: encode in place from then on, rather than start one per segment. */
let unstartable = false;
/** Segments encoded on the calling thread so far (for tests). */
export let inPlace = 0;
let streams = 0;
/** Buffers that carried segments and blocks, given back for the next ones. */
const inputs: ArrayBuffer[] = [];
const outputs: ArrayBuffer[] = [];

/** The thread's code: next to this file, .ts where sources run (tests), .js once built. */
const ENTRY = new URL(`./encode-thread-entry${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url);

/**
 * The thread's node flags. A worker takes its parent's by default, and some break it (a parent
 * run as `node --input-type=module -e …` could not start one). Built, it needs none; where the
 * sources run, those that load them (`--import tsx`, `--conditions=source`).
 */
function threadFlags(): string[] {
  if (!ENTRY.pathname.endsWith('.ts')) return [];
  const loading = /^--(import|conditions)(=|$)/;
  return process.execArgv.filter((flag, at, all) => loading.test(flag) || /^--(import|conditions)$/.test(all[at - 1] ?? ''));
}

/** The thread, started if it is not running. */
function running(): Thread {
  if (thread) return thread;
  const worker = new Worker(ENTRY, { name: 'dogestry lz4 encoder', execArgv: threadFlags() });
  const started: Thread = { worker, waiting: [], online: false };
  const stopped = (error: Error) => {
    if (thread === started) thread = undefined;
    // One that never ran (a packaging that left out its entry file): segments stay in place.
    if (!started.online) unstartable = true;
    for (const settle of started.waiting.splice(0)) settle({ stopped: error });
  };
  started.worker.on('message', (reply: EncodeReply | EncodeReady) => {
    if (reply !== 'ready') {
      started.waiting.shift()?.(reply);
      return;
    }
    started.online = true;
    releaseEncoder(); // the one that encoded in place meanwhile, if any
    // Given nothing yet (a stream that ended while it started): idle from now.
    if (started.waiting.length === 0) idleFrom(started);
  });
  started.worker.on('error', stopped);
  started.worker.on('exit', (code) => stopped(new Error(`it exited with code ${code}`)));
  started.worker.unref();
  thread = started;
  return started;
}

/** End the thread after IDLE ms with no segment (a new segment clears the timer first), if it is still the one running. */
function idleFrom(idle: Thread): void {
  if (thread !== idle) return;
  idle.idle = setTimeout(() => {
    if (thread === idle) thread = undefined;
    void idle.worker.terminate();
  }, IDLE).unref();
}

/** A buffer of `pool`'s of at least `size` bytes, or a new one. */
function take(pool: ArrayBuffer[], size: number): ArrayBuffer {
  const at = pool.findIndex((buffer) => buffer.byteLength >= size);
  return at >= 0 ? (pool.splice(at, 1)[0] as ArrayBuffer) : new ArrayBuffer(size);
}

/** A segment's `parts` copied into a given-back buffer, with one for its block. */
function staged(parts: readonly Uint8Array[], length: number): { input: ArrayBuffer; output: ArrayBuffer } {
  const input = take(inputs, length);
  copyParts(new Uint8Array(input), parts, 0);
  return { input, output: take(outputs, worth(length)) };
}

/** The block in `output` (`written` bytes; 0: none, store it raw) copied out, and both buffers given back. */
function unstaged(input: ArrayBuffer, output: ArrayBuffer, written: number): Buffer | undefined {
  const block = written > 0 ? Buffer.from(new Uint8Array(output, 0, written)) : undefined;
  inputs.push(input);
  outputs.push(output);
  return block;
}

/** The segments of one layer, encoded on the thread in the order given. */
export class SegmentEncoder {
  private readonly stream = ++streams;
  private inFlight = 0;
  /** How the last answered segment was stored (none yet: as after a raw one). */
  private lastRaw = true;

  /** The segment `parts` (`length` bytes in all) as one LZ4 block, or undefined: store it raw. */
  async encode(parts: readonly Uint8Array[], length: number): Promise<Buffer | undefined> {
    if (IN_PLACE || unstartable) return this.encodeInPlace(parts, length);
    const current = running();
    // A thread takes ~0.1 s to start: the first segments are encoded here meanwhile (a small
    // image's whole push, 2-5 times over), unless some of this stream's are already queued there.
    if (!current.online && this.inFlight === 0) return this.encodeInPlace(parts, length);
    clearTimeout(current.idle);
    const { input, output } = staged(parts, length);
    const reply = await new Promise<EncodeReply | Failure>((resolve) => {
      current.waiting.push(resolve);
      // Held open while it encodes: a caller's promise alone does not keep node running.
      current.worker.ref();
      const request: EncodeRequest = {
        stream: this.stream,
        input,
        length,
        output,
        afterRaw: this.inFlight === 0 ? this.lastRaw : undefined,
      };
      this.inFlight++;
      current.worker.postMessage(request, [input, output]);
    });
    this.inFlight--;
    if (current.waiting.length === 0) {
      current.worker.unref();
      idleFrom(current);
    }
    if ('stopped' in reply) {
      throw new DogestryError(`the lz4 encoding thread stopped (${reply.stopped.message}): nothing was committed; try again`, {
        cause: reply.stopped,
        retryable: true,
      });
    }
    const block = unstaged(reply.input, reply.output, 'written' in reply ? reply.written : 0);
    // As thrown on the thread (an encoder that did not load is our installation's fault: lz4-block.ts).
    if ('error' in reply) throw Object.assign(new Error(reply.error), reply.code ? { code: reply.code } : {});
    this.lastRaw = !block;
    return block;
  }

  private encodeInPlace(parts: readonly Uint8Array[], length: number): Buffer | undefined {
    inPlace++;
    const { input, output } = staged(parts, length);
    const block = unstaged(input, output, encodeSegment(new Uint8Array(input, 0, length), this.lastRaw, new Uint8Array(output)));
    this.lastRaw = !block;
    return block;
  }

  /** No more segments: the thread forgets the stream. */
  close(): void {
    thread?.worker.postMessage({ stream: this.stream, close: true } satisfies EncodeRequest);
  }
}

/** The running thread, if any (for tests). */
export function encodingThread(): Worker | undefined {
  return thread?.worker;
}

/** The thread, started if need be, once it runs its code and takes segments (for tests). */
export async function encodingThreadReady(): Promise<Worker> {
  const current = running();
  current.worker.ref(); // nothing else may hold the process open meanwhile
  // Its first message is 'ready' (segments go to it only once it is): the handler above has
  // marked it online by the time this listener, added after, hears it.
  if (!current.online) await once(current.worker, 'message');
  if (current.waiting.length === 0) current.worker.unref();
  return current.worker;
}
