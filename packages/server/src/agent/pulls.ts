/**
 * The pulls a host agent runs for its callers, into its own engine, through its own cache.
 * Two requests for the same image from the same source share one pull: the second is
 * replayed what the first has reported so far and then follows it live.
 */
import { randomUUID } from 'node:crypto';
import { type DockerEngine, DogestryError, type ProgressEvent, type PullResult, pull, type Remote } from '@dogestry/core';

export type PullEvent =
  | ProgressEvent
  | { readonly type: 'result'; readonly result: PullResult }
  | { readonly type: 'error'; readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean } };

export interface PullRequest {
  /** What identifies the pull for sharing: the image and where it comes from. */
  readonly key: string;
  readonly image: string;
  readonly remote: () => Promise<Remote | string>;
  readonly remoteOptions?: { readonly settings?: Readonly<Record<string, string | undefined>> };
}

export class RunningPull {
  readonly id = randomUUID();
  readonly events: PullEvent[] = [];
  private readonly listeners = new Set<(event: PullEvent) => void>();
  private readonly abort = new AbortController();
  done = false;
  private followers = 0;

  constructor(readonly key: string) {}

  /** Every event so far, then each one as it comes; answers how to stop listening. */
  follow(listener: (event: PullEvent) => void): () => void {
    for (const event of this.events) listener(event);
    if (this.done) return () => {};
    this.listeners.add(listener);
    this.followers++;
    return () => {
      if (!this.listeners.delete(listener)) return;
      // The last caller gone: nobody waits for this pull any more.
      if (--this.followers === 0 && !this.done) this.abort.abort();
    };
  }

  cancel(): void {
    this.abort.abort();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  emit(event: PullEvent): void {
    this.events.push(event);
    if (event.type === 'result' || event.type === 'error') this.done = true;
    for (const listener of [...this.listeners]) listener(event);
    if (this.done) this.listeners.clear();
  }
}

export class AgentPulls {
  private readonly running = new Map<string, RunningPull>();

  constructor(
    private readonly engine: DockerEngine,
    private readonly cacheDir: string | undefined,
  ) {}

  get(id: string): RunningPull | undefined {
    return [...this.running.values()].find((p) => p.id === id);
  }

  /** The pull for `request`: one already running for the same image and source, or a new one. */
  start(request: PullRequest): RunningPull {
    const existing = this.running.get(request.key);
    if (existing && !existing.done) return existing;
    const running = new RunningPull(request.key);
    this.running.set(request.key, running);
    void (async () => {
      try {
        const result = await pull({
          remote: await request.remote(),
          ...(request.remoteOptions ? { remoteOptions: request.remoteOptions } : {}),
          image: request.image,
          engines: [this.engine],
          ...(this.cacheDir ? { cacheDir: this.cacheDir } : {}),
          onProgress: (event) => running.emit(event as PullEvent),
          signal: running.signal,
        });
        running.emit({ type: 'result', result });
      } catch (error) {
        const known = error instanceof DogestryError;
        running.emit({
          type: 'error',
          error: {
            code: known ? error.code : 'UNEXPECTED',
            message: known ? error.message : `unexpected: ${(error as Error).message}`,
            retryable: known ? error.retryable : false,
          },
        });
      } finally {
        if (this.running.get(request.key) === running) this.running.delete(request.key);
      }
    })();
    return running;
  }

  cancelAll(): void {
    for (const running of this.running.values()) running.cancel();
  }
}
