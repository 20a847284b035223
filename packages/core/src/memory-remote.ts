import { addAbortSignal, Readable } from 'node:stream';
import { ReadOnlyError } from './errors.js';
import { assertSafeKey, type ReadOptions, type Remote, type RemoteCapabilities, type StatResult, type WriteOptions } from './remote.js';

/** A remote held in this process's memory: for unit tests of core, and as the reference implementation of the contract. */
export class MemoryRemote implements Remote {
  readonly url: string;
  readonly capabilities: RemoteCapabilities;
  readonly objects = new Map<string, { bytes: Buffer; modified: Date }>();
  /** Every successful write, in order: lets tests assert what a push wrote. */
  readonly writes: string[] = [];

  constructor(options: { name?: string; readOnly?: boolean } = {}) {
    this.url = `memory://${options.name ?? 'default'}`;
    this.capabilities = { write: !options.readOnly, list: true, createOnly: true };
  }

  async stat(key: string): Promise<StatResult | undefined> {
    assertSafeKey(key);
    const object = this.objects.get(key);
    return object && { size: object.bytes.length, modified: object.modified };
  }

  async read(key: string, opts: ReadOptions = {}): Promise<Readable | undefined> {
    assertSafeKey(key);
    const object = this.objects.get(key);
    const start = opts.offset ?? 0;
    return object && Readable.from([object.bytes.subarray(start, opts.length === undefined ? undefined : start + opts.length)]);
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    assertSafeKey(key);
    this.assertWritable();
    if (opts.signal) addAbortSignal(opts.signal, body);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    if (opts.createOnly && this.objects.has(key)) return 'exists';
    this.objects.set(key, { bytes: Buffer.concat(chunks), modified: new Date() });
    this.writes.push(key);
    return 'written';
  }

  async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    assertSafeKey(from);
    assertSafeKey(to);
    this.assertWritable();
    const object = this.objects.get(from);
    if (!object) throw new Error(`move: ${from} does not exist`);
    this.objects.delete(from);
    if (opts.createOnly && this.objects.has(to)) return 'exists';
    this.objects.set(to, object);
    this.writes.push(to);
    return 'written';
  }

  async *list(prefix: string): AsyncIterable<string> {
    for (const key of [...this.objects.keys()]) if (key.startsWith(prefix)) yield key;
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.assertWritable();
    for (const key of keys) this.objects.delete(key);
  }

  private assertWritable(): void {
    if (!this.capabilities.write) throw new ReadOnlyError(`${this.url} is read-only`);
  }
}
