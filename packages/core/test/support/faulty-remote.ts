import type { Readable } from 'node:stream';
import { TransportError } from '@dogestry/core';
import { MemoryRemote, type WriteOptions } from '@dogestry/core/transport';

export type Operation = 'write' | 'move' | 'delete';

/** The in-memory remote, failing whichever write, move or delete `failWhen` picks (as a storage outage would). */
export class FaultyRemote extends MemoryRemote {
  failWhen: (op: Operation, key: string) => boolean = () => false;
  /** Every write, move and delete attempted, in order: `write blobs/sha256/…`. */
  readonly attempts: string[] = [];

  private check(op: Operation, key: string): void {
    this.attempts.push(`${op} ${key}`);
    if (this.failWhen(op, key)) throw new TransportError(`injected failure: ${op} ${key}`);
  }

  override async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    try {
      this.check('write', key);
    } catch (error) {
      body.destroy();
      throw error;
    }
    return super.write(key, body, opts);
  }

  override async move(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    this.check('move', to);
    return super.move(from, to, opts);
  }

  override async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.check('delete', key);
    return super.delete(keys);
  }
}
