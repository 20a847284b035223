import type { ProgressEvent } from '@dogestry/core';
import { formatBytes, shortId } from './format.js';

interface LayerState {
  /** Decoded (layer tar) bytes so far. */
  bytes: number;
  size?: number;
  done: boolean;
}

/** How often a TTY status line is redrawn, and a plain progress line printed otherwise. */
const REDRAW_MS = 250;
const PLAIN_EVERY_MS = 10_000;
/** A host pulling for itself gets a line per this many bytes downloaded. */
const HOST_STEP = 64 * 1024 * 1024;

/**
 * Renders progress on stderr as docker and skopeo do: one redrawn status line on a TTY, plain
 * lines otherwise (logs, CI); silent with --json or --quiet. The bar, rate and ETA count
 * layer data (decoded bytes, what the engine saves or loads); per-layer lines also say what
 * was stored or downloaded. Phases where bytes do not move say what is being waited for: the
 * engine exporting the image before a push streams, the engine loading after downloads end.
 */
export class ProgressRenderer {
  private readonly layers = new Map<string, LayerState>();
  private readonly hostSteps = new Map<string, number>();
  private planned = 0;
  private missing = 0;
  private label = '';
  private image = '';
  private lastDraw = 0;
  private lastPlain = 0;
  /** When the current phase began, and when the first layer byte moved. */
  private phaseSince = Date.now();
  private firstByteAt: number | undefined;
  private phase: 'idle' | 'export' | 'transfer' | 'load' = 'idle';
  private readonly loading = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
    private readonly now: () => number = Date.now,
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
        this.image = event.image;
        this.label = `${event.operation} ${event.image}`;
        this.line(`${this.label}: ${event.layers} layers, ${event.missing} to ${event.operation === 'push' ? 'upload' : 'download'}`);
        break;
      case 'export':
        this.enter('export');
        if (!this.tty) this.line(`  waiting for the engine to export ${event.image}`);
        break;
      case 'layer-start':
        this.enter('transfer');
        this.layers.set(event.diffId, { bytes: 0, ...(event.size === undefined ? {} : { size: event.size }), done: false });
        this.draw();
        break;
      case 'layer-progress': {
        this.enter('transfer');
        this.firstByteAt ??= this.now();
        const layer = this.layers.get(event.diffId);
        if (layer) {
          layer.bytes = event.bytes;
          if (event.size !== undefined) layer.size = event.size;
        }
        this.draw();
        break;
      }
      case 'layer-done': {
        const layer = this.layers.get(event.diffId);
        if (layer) {
          layer.done = true;
          if (event.size !== undefined) layer.bytes = layer.size = event.size;
        }
        if (event.result !== 'present') this.line(`  ${shortId(event.diffId)}  ${event.result}  ${layerAmount(event)}`);
        if (this.loading.size > 0 && this.allDone()) this.enter('load');
        break;
      }
      case 'load':
        if (event.state === 'start') {
          this.loading.add(event.engine);
          this.line(`  loading into ${event.engine} (${event.layers} layers)`);
          if (this.allDone()) this.enter('load');
        } else if (event.state === 'skipped') this.line(`  already on ${event.engine}`);
        else {
          this.loading.delete(event.engine);
          if (this.loading.size === 0) this.enter('idle');
        }
        break;
      case 'repair':
        this.line(`  repairing ${event.key}: ${event.reason}`);
        break;
      case 'wait':
        this.line(`  waiting: ${event.reason}`);
        break;
      case 'publish':
        break;
      case 'host':
        this.onHost(event);
        break;
    }
  }

  /** Hosts that pull for themselves: a line when each starts and ends, and every 64 MiB it downloads. */
  private onHost(event: Extract<ProgressEvent, { type: 'host' }>): void {
    const bytes = event.bytes ?? 0;
    if (event.state === 'start') this.line(`  ${event.host}: its dogestry server pulls`);
    else if (event.state === 'done') {
      this.line(`  ${event.host}: done, ${event.layers ?? 0} layers loaded, ${formatBytes(bytes)} downloaded there`);
    } else if (event.state === 'failed') this.line(`  ${event.host}: failed: ${event.message ?? ''}`);
    else {
      const step = Math.floor(bytes / HOST_STEP);
      if (step > (this.hostSteps.get(event.host) ?? 0)) {
        this.hostSteps.set(event.host, step);
        this.line(`  ${event.host}: ${formatBytes(bytes)} downloaded`);
      }
    }
  }

  /** Every layer to download has come (a pull from a directory starts each only when the load reaches it). */
  private allDone(): boolean {
    return this.layers.size >= this.missing && [...this.layers.values()].every((l) => l.done);
  }

  private enter(phase: ProgressRenderer['phase']): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.phaseSince = this.now();
    if (phase === 'load' && !this.tty) this.line(`  downloads done; the engine is loading ${this.image}`);
    if (this.tty && phase !== 'idle' && !this.timer) {
      this.timer = setInterval(() => this.draw(true), REDRAW_MS);
      this.timer.unref();
    }
    this.draw(true);
  }

  /** A permanent line (clears the TTY status line first). */
  private line(text: string): void {
    if (this.tty) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${text}\n`);
    this.draw(true);
  }

  /** The status: what is being waited for, or bytes, rate and ETA. */
  status(): string {
    const seconds = Math.floor((this.now() - this.phaseSince) / 1000);
    if (this.phase === 'export') return `waiting for the engine to export ${this.image}… ${seconds}s`;
    if (this.phase === 'load') return `the engine is loading ${this.image}… ${seconds}s`;
    if (this.phase !== 'transfer') return '';
    const all = [...this.layers.values()];
    const bytes = all.reduce((s, l) => s + l.bytes, 0);
    const sized = all.length >= this.missing && all.every((l) => l.size !== undefined);
    const size = sized ? all.reduce((s, l) => s + (l.size ?? 0), 0) : undefined;
    const elapsed = this.firstByteAt === undefined ? 0 : (this.now() - this.firstByteAt) / 1000;
    const rate = elapsed > 0.5 ? bytes / elapsed : undefined;
    const done = all.filter((l) => l.done).length;
    const parts: string[] = [];
    if (size) {
      const width = 24;
      parts.push(`[${'#'.repeat(Math.round(Math.min(1, bytes / size) * width)).padEnd(width, '.')}]`);
      parts.push(`${formatBytes(bytes)} / ${formatBytes(size)} layer data`);
    } else parts.push(`${formatBytes(bytes)} layer data`);
    if (rate) parts.push(`${formatBytes(rate)}/s`);
    if (rate && size) parts.push(`ETA ${formatSeconds((size - bytes) / rate)}`);
    parts.push(`${done}/${this.missing || this.planned} layers`);
    return parts.join('  ');
  }

  private draw(force = false): void {
    const now = this.now();
    if (!this.tty) {
      // A line every 10 s of transfer, counted from its first byte.
      if (
        this.phase === 'transfer' &&
        this.firstByteAt !== undefined &&
        now - Math.max(this.lastPlain, this.firstByteAt) >= PLAIN_EVERY_MS
      ) {
        this.stream.write(`  ${this.status()}\n`);
        this.lastPlain = now;
      }
      return;
    }
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.stream.write(`\r\x1b[K${this.status()}`);
  }

  finish(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.enabled && this.tty) this.stream.write('\r\x1b[K');
    this.layers.clear();
    this.loading.clear();
    this.firstByteAt = undefined;
    this.phase = 'idle';
    this.lastPlain = 0;
  }
}

/** `8.0 MiB (2.1 MiB stored)`: the layer's size, and what moved where that differs. */
function layerAmount(event: Extract<ProgressEvent, { type: 'layer-done' }>): string {
  if (event.size === undefined) return `${formatBytes(event.bytes)} stored`;
  const verb = event.result === 'downloaded' ? 'downloaded' : 'stored';
  const size = formatBytes(event.size);
  const moved = formatBytes(event.bytes);
  return event.bytes === 0 || moved === size ? size : `${size} (${moved} ${verb})`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.ceil(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
