/** Receives bytes in order; a returned promise holds the producer back until it settles. */
export type ByteOutput = (bytes: Buffer) => Promise<void> | undefined;

/** One unit of (de)compression work: the output buffers of one frame, in order. */
export type FrameWork = () => Promise<Buffer[]> | Buffer[];

/** Cuts a byte stream into frames and hands each frame's work to `emit` as it completes. */
export interface Framer {
  write(chunk: Buffer): void;
  end(): void;
}

/** Frames being worked on at once, unless the codec says otherwise (zstd's and gzip's run on libuv's thread pool). */
const IN_FLIGHT = 3;
/**
 * Readers (stream buffers, pipeline() stages) count chunks as well as bytes, so whole 1 MiB
 * frames could pin many MiB per stage: by default, hand them on as 256 KiB views (no copy).
 */
const OUTPUT_SLICE = 256 * 1024;

/**
 * Runs the work of each frame a framer cuts, with up to `inFlight` frames at a time, and hands
 * the outputs to `output` in input order, each as soon as it and those before it are done, in
 * views of at most `slice` bytes. Push-style: `write` returns a promise only when `inFlight`
 * frames are already pending, so a caller's per-chunk cost is a synchronous call.
 */
export class FramedCodec {
  private readonly waiting: FrameWork[] = [];
  private readonly framer: Framer;
  private pending = 0;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    makeFramer: (emit: (work: FrameWork) => void) => Framer,
    private readonly output: ByteOutput,
    private readonly inFlight = IN_FLIGHT,
    private readonly slice = OUTPUT_SLICE,
  ) {
    this.framer = makeFramer((work) => this.waiting.push(work));
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    this.framer.write(chunk);
    return this.startWaiting();
  }

  /** Every output has been handed on when this resolves. */
  async end(): Promise<void> {
    this.framer.end();
    await this.startWaiting();
    await this.tail;
  }

  private startWaiting(): Promise<void> | undefined {
    while (this.waiting.length > 0 && this.pending < this.inFlight) this.start(this.waiting.shift() as FrameWork);
    if (this.waiting.length === 0) return undefined;
    return (async () => {
      while (this.waiting.length > 0) {
        while (this.pending >= this.inFlight && !this.failure) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.failure) throw this.failure;
        this.start(this.waiting.shift() as FrameWork);
      }
    })();
  }

  private start(work: FrameWork): void {
    this.pending++;
    const job = (async () => work())();
    job.catch(() => {}); // awaited in order on the tail; this only silences an early rejection
    this.tail = this.tail.then(async () => {
      for (const buffer of await job) {
        for (let at = 0; at < buffer.length; at += this.slice) {
          const wait = this.output(at === 0 && buffer.length <= this.slice ? buffer : buffer.subarray(at, at + this.slice));
          if (wait) await wait;
        }
      }
      this.pending--;
      this.wake?.();
    });
    this.tail.catch((error: Error) => {
      this.failure ??= error;
      this.wake?.();
    });
  }
}

/** Groups input into frames of `size` bytes (the last may be shorter), each handed to `work`. */
export class FixedSizeFramer implements Framer {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly size: number,
    private readonly emit: (work: FrameWork) => void,
    private readonly work: (parts: readonly Buffer[], length: number) => FrameWork,
  ) {}

  write(chunk: Buffer): void {
    let rest = chunk;
    while (this.length + rest.length >= this.size) {
      const take = this.size - this.length;
      this.parts.push(take === rest.length ? rest : rest.subarray(0, take));
      this.length += take;
      this.flush();
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      this.parts.push(rest);
      this.length += rest.length;
    }
  }

  end(): void {
    if (this.length > 0) this.flush();
  }

  private flush(): void {
    const { parts, length } = this;
    this.parts = [];
    this.length = 0;
    // The parts stay valid (callers never reuse a chunk): work joins them only if it must.
    this.emit(this.work(parts, length));
  }
}

/** One buffer of `parts`, copying only when there are several. */
export function joined(parts: readonly Buffer[], length: number): Buffer {
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts as Buffer[], length);
}
