/**
 * The lz4 encoding thread's code (encode-thread.ts starts it). Each message brings a segment of
 * a stream and the room for its block; the answer is the block's length (0: store it raw), or
 * the error that stopped it. Messages are answered in the order they came. The thread
 * allocates nothing per segment: memory allocated here and freed by the main thread stayed in
 * this thread's malloc arena (12-13 MiB of a push's peak RSS).
 */
import { parentPort } from 'node:worker_threads';
import { encodeSegment } from './lz4-segment.js';

/**
 * A segment: `input`'s first `length` bytes, encoded into `output`, judged on `stream`'s segment
 * before (lz4-segment.ts): on `afterRaw` where the sender knows how that one was stored, else on
 * what this thread did with it (it is still in the queue). Both buffers are transferred, and
 * given back with the answer. Or the end of a stream: `close`.
 */
export type EncodeRequest =
  | {
      readonly stream: number;
      readonly input: ArrayBuffer;
      readonly length: number;
      readonly output: ArrayBuffer;
      readonly afterRaw?: boolean | undefined;
    }
  | { readonly stream: number; readonly close: true };

/** The answer to a segment, with its buffers: the block's length (0: store it raw), or why there is none. */
export type EncodeReply = { readonly input: ArrayBuffer; readonly output: ArrayBuffer } & (
  | { readonly written: number }
  | { readonly error: string; readonly code?: string | undefined }
);

/** The thread's first message: its code is loaded, and it takes segments. */
export type EncodeReady = 'ready';

const port = parentPort;
if (!port) throw new Error('encode-thread-entry runs as a worker thread only');
/** The streams whose last segment was compressed (the others were stored raw, or are new). */
const compressing = new Set<number>();
port.on('message', (request: EncodeRequest) => {
  if ('close' in request) {
    compressing.delete(request.stream);
    return;
  }
  const { stream, input, length, output, afterRaw = !compressing.has(stream) } = request;
  let reply: EncodeReply;
  try {
    const written = encodeSegment(new Uint8Array(input, 0, length), afterRaw, new Uint8Array(output));
    if (written > 0) compressing.add(stream);
    else compressing.delete(stream);
    reply = { input, output, written };
  } catch (error) {
    reply = { input, output, error: (error as Error).message, code: (error as { code?: string }).code };
  }
  port.postMessage(reply, [input, output]);
});
port.postMessage('ready' satisfies EncodeReady);
