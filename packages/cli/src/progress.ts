import type { ProgressEvent } from '@dogestry/core';
import { formatBytes, shortId } from './format.js';

/**
 * Renders progress on stderr: one redrawn status line on a TTY, plain lines otherwise
 * (logs, CI). Silent with --json or --quiet.
 */
export class ProgressRenderer {
  private readonly layers = new Map<string, { bytes: number; size?: number; done: boolean }>();
  private planned = 0;
  private missing = 0;
  private label = '';
  private lastDraw = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
  ) {}

  get listener(): (event: ProgressEvent) => void {
    return (event) => this.onEvent(event);
  }

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  private onEvent(event: ProgressEvent): void {
    if (!this.enabled) return;
    switch (event.type) {
      case 'plan':
        this.planned = event.layers;
        this.missing = event.missing;
        this.label = `${event.operation} ${event.image}`;
        this.line(`${this.label}: ${event.layers} layers, ${event.missing} to ${event.operation === 'push' ? 'upload' : 'download'}`);
        break;
      case 'layer-start':
        this.layers.set(event.diffId, { bytes: 0, ...(event.size === undefined ? {} : { size: event.size }), done: false });
        this.draw();
        break;
      case 'layer-progress': {
        const layer = this.layers.get(event.diffId);
        if (layer) layer.bytes = event.bytes;
        this.draw();
        break;
      }
      case 'layer-done': {
        const layer = this.layers.get(event.diffId);
        if (layer) layer.done = true;
        if (event.result !== 'present') this.line(`  ${shortId(event.diffId)}  ${event.result}  ${formatBytes(event.bytes)}`);
        break;
      }
      case 'load':
        if (event.state !== 'done')
          this.line(
            `  ${event.state === 'skipped' ? 'already on' : 'loading into'} ${event.engine}${event.state === 'start' ? ` (${event.layers} layers)` : ''}`,
          );
        break;
      case 'repair':
        this.line(`  repairing ${event.key}: ${event.reason}`);
        break;
      case 'wait':
        this.line(`  waiting: ${event.reason}`);
        break;
      case 'publish':
        break;
    }
  }

  /** A permanent line (clears the TTY status line first). */
  private line(text: string): void {
    if (this.tty) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${text}\n`);
    this.draw(true);
  }

  private draw(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const active = [...this.layers.values()].filter((l) => !l.done);
    const done = [...this.layers.values()].filter((l) => l.done).length;
    if (active.length === 0) {
      this.stream.write('\r\x1b[K');
      return;
    }
    const bytes = active.reduce((s, l) => s + l.bytes, 0);
    const size = active.reduce((s, l) => s + (l.size ?? 0), 0);
    const ratio = size > 0 ? Math.min(1, bytes / size) : 0;
    const width = 24;
    const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
    this.stream.write(
      `\r\x1b[K[${bar}] ${done}/${this.missing || this.planned} layers  ${formatBytes(bytes)}${size ? ` / ${formatBytes(size)}` : ''}`,
    );
  }

  finish(): void {
    if (this.enabled && this.tty) this.stream.write('\r\x1b[K');
  }
}
