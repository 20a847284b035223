/**
 * The newest bytes of a stream being written, by position: a reader close behind the writer
 * takes views of them instead of reading the file back (a fresh buffer and a trip through the
 * thread pool per MiB). Chunks are held by reference, never copied, and never changed after
 * they are pushed (the writers of this package never reuse a chunk).
 */
export class RecentBytes {
  private chunks: Buffer[] = [];
  /** Position of the first byte of `chunks[0]`. */
  private start = 0;
  private held = 0;

  /** Keeps at least the last `window` bytes (whole chunks: at most one chunk more). */
  constructor(private readonly window: number) {}

  /** Position just past the newest byte pushed. */
  get end(): number {
    return this.start + this.held;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
    while (this.held - (this.chunks[0] as Buffer).length >= this.window) {
      const dropped = this.chunks.shift() as Buffer;
      this.start += dropped.length;
      this.held -= dropped.length;
    }
  }

  /** Let go of every chunk; positions keep counting from `end`. */
  clear(): void {
    this.start += this.held;
    this.held = 0;
    this.chunks = [];
  }

  holds(position: number): boolean {
    return position >= this.start && position < this.end;
  }

  /** Up to `length` bytes at `position` (a view into the one chunk holding it), if still held. */
  at(position: number, length: number): Buffer | undefined {
    if (!this.holds(position)) return undefined;
    let offset = position - this.start;
    for (const chunk of this.chunks) {
      if (offset < chunk.length) return chunk.subarray(offset, offset + Math.min(length, chunk.length - offset));
      offset -= chunk.length;
    }
    return undefined;
  }
}
