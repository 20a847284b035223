/**
 * The writers' side of the gc protocol (docs/FORMAT.md, "gc and the writers' protocol").
 *
 * A writer takes a lease, `leases/<id>.json`, naming every blob and image pointer it relies
 * on before it decides that any of them exists, and renews it while it works. gc honours
 * every live lease. A gc that may have listed leases before this writer's lease (or before
 * a blob was added to it) is one whose marker `gc/<id>.json` was visible right after the
 * lease was written: before its tag goes out, the writer waits for every such gc to end and
 * checks again that everything its tag needs is there. A lease or marker not renewed for its
 * `ttlSeconds` (a killed process) protects nothing.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FormatError } from './errors.js';
import { readText, TMP_PREFIX } from './format.js';
import type { Remote } from './remote.js';

export const LEASES_PREFIX = 'leases/';
export const GC_PREFIX = 'gc/';

/** How long a lease or gc marker protects after its last renewal (renewed every quarter of it). */
export function defaultTtlSeconds(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const fromEnv = Number(env.DOGESTRY_LEASE_SECONDS);
  return Number.isFinite(fromEnv) && fromEnv >= 1 ? fromEnv : 60;
}

/** A lease or marker as stored: who holds it, for how long, and (leases) what it protects. */
export interface LeaseBody {
  readonly ttlSeconds: number;
  readonly host: string;
  readonly pid: number;
  readonly started: string;
  readonly blobs?: readonly string[];
  readonly images?: readonly string[];
}

/** A lease or marker key with its storage time and body. */
export interface HeldKey {
  readonly key: string;
  readonly modified: number | undefined;
  readonly body: LeaseBody;
}

/** Read every lease or marker under `prefix` (ones that vanish or do not parse are skipped). */
export async function listHeld(remote: Remote, prefix: string): Promise<HeldKey[]> {
  const held: HeldKey[] = [];
  for await (const key of remote.list(prefix)) {
    if (!key.endsWith('.json')) continue;
    const [stat, text] = await Promise.all([remote.stat(key), readText(remote, key)]);
    if (text === undefined) continue;
    const body = parseLeaseBody(text);
    if (body) held.push({ key, modified: stat?.modified?.getTime(), body });
  }
  return held;
}

function parseLeaseBody(text: string): LeaseBody | undefined {
  try {
    const value = JSON.parse(text) as Partial<LeaseBody>;
    if (typeof value.ttlSeconds !== 'number' || !(value.ttlSeconds > 0)) return undefined;
    return value as LeaseBody;
  } catch {
    return undefined;
  }
}

/** Whether a lease or marker was renewed within its ttl, seen from storage time `now`. */
export function isLive(held: HeldKey, now: number): boolean {
  return held.modified === undefined || held.modified >= now - held.body.ttlSeconds * 1000;
}

/**
 * A renewed key (a writer's lease or gc's marker): written now, rewritten every quarter of
 * its ttl, deleted by `release`. Writes are serialized so the last one holds the latest body.
 */
export class RenewedKey {
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Cuts off a background renewal under way. */
  private renewal: AbortController | undefined;
  /** performance.now() when the last successful write started. */
  private renewedAt = 0;
  /** Storage time of the last write (its mtime), or the local clock where the storage has none. */
  storageNow = Date.now();
  private failure: Error | undefined;

  constructor(
    readonly remote: Remote,
    readonly key: string,
    readonly ttlSeconds: number,
    private readonly body: () => LeaseBody,
  ) {}

  /** Write it (again) with the current body; resolves once this write has landed. */
  write(signal?: AbortSignal): Promise<void> {
    const next = this.chain.then(async () => {
      const started = performance.now();
      const bytes = Buffer.from(`${JSON.stringify(this.body())}\n`);
      await this.remote.write(this.key, Readable.from([bytes]), { size: bytes.length, ...(signal ? { signal } : {}) });
      const stat = await this.remote.stat(this.key);
      this.storageNow = stat?.modified?.getTime() ?? Date.now();
      this.renewedAt = started;
    });
    this.chain = next.catch((error: Error) => {
      this.failure = error;
    });
    return next;
  }

  /**
   * Start renewing in the background, one renewal at a time: a store that stops answering
   * holds a write for its transport's timeouts and retries (S3: 5 tries of 60 s), and
   * renewals queued behind it every quarter ttl grew without end, with `release` waiting for
   * all of them (a push to a full radosgw never exited).
   */
  keepAlive(): void {
    const renewal = new AbortController();
    this.renewal = renewal;
    let renewing = false;
    this.timer = setInterval(
      () => {
        if (renewing) return;
        renewing = true;
        this.write(renewal.signal)
          .catch(() => {})
          .finally(() => {
            renewing = false;
          });
      },
      (this.ttlSeconds * 1000) / 4,
    );
    this.timer.unref();
  }

  /**
   * True while the key certainly still protects: renewed less than its ttl ago, with a margin
   * for the write that comes next (a tag, a delete batch).
   */
  isFresh(): boolean {
    const margin = Math.min(10_000, (this.ttlSeconds * 1000) / 4);
    return performance.now() - this.renewedAt < this.ttlSeconds * 1000 - margin;
  }

  get lastFailure(): Error | undefined {
    return this.failure;
  }

  /** Stop renewing (a renewal under way is cut off: the key is deleted next) and delete the key. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.renewal?.abort();
    await this.chain;
    // At most a quarter of the ttl (15 s at most): a store that stopped answering would hold
    // the delete for all its tries, and a key left behind expires anyway.
    const signal = AbortSignal.timeout(Math.min(15_000, this.ttlSeconds * 250));
    await this.remote.delete([this.key], { signal }).catch(() => {});
  }
}

function holder(ttlSeconds: number): Omit<LeaseBody, 'blobs' | 'images'> {
  return { ttlSeconds, host: hostname(), pid: process.pid, started: new Date().toISOString() };
}

/** What a writer's `settle` check answers: whether everything its tag needs is on the remote. */
export type IntactCheck = () => Promise<boolean>;

/** A writer's lease: see the module comment for the protocol. */
export class WriterLease {
  readonly id = randomUUID();
  readonly tmpPrefix = `${TMP_PREFIX}${this.id}/`;
  private readonly blobs = new Set<string>();
  private readonly images = new Set<string>();
  /** gc markers seen right after the lease grew: those gcs may have missed part of it. */
  private readonly suspects = new Set<string>();
  private readonly renewed: RenewedKey;

  private constructor(
    readonly remote: Remote,
    ttlSeconds: number,
  ) {
    const started = holder(ttlSeconds);
    this.renewed = new RenewedKey(remote, `${LEASES_PREFIX}${this.id}.json`, ttlSeconds, () => ({
      ...started,
      blobs: [...this.blobs],
      images: [...this.images],
    }));
  }

  /** Take a lease already naming `blobs` and `images` (one write; see `protect`). */
  static async take(
    remote: Remote,
    ttlSeconds = defaultTtlSeconds(),
    blobs: Iterable<string> = [],
    images: Iterable<string> = [],
  ): Promise<WriterLease> {
    const lease = new WriterLease(remote, ttlSeconds);
    for (const hex of blobs) lease.blobs.add(hex);
    for (const hex of images) lease.images.add(hex);
    await lease.renewed.write();
    for (const marker of await lease.liveMarkers()) lease.suspects.add(marker.key);
    lease.renewed.keepAlive();
    return lease;
  }

  /**
   * Add blobs (hex digests) and image pointers (image id hex) to the lease. Call it before
   * deciding whether any of them exists on the remote.
   */
  async protect(blobs: Iterable<string>, images: Iterable<string> = []): Promise<void> {
    let grew = false;
    for (const [set, hexes] of [
      [this.blobs, blobs],
      [this.images, images],
    ] as const) {
      for (const hex of hexes) {
        if (set.has(hex)) continue;
        set.add(hex);
        grew = true;
      }
    }
    if (!grew) return;
    await this.renewed.write();
    for (const marker of await this.liveMarkers()) this.suspects.add(marker.key);
  }

  /**
   * Call right before publishing the tag. If a gc may have missed part of the lease, or the
   * lease may have lapsed, wait for those gcs to end and run `intact` (which re-checks that
   * every blob and pointer the tag needs is there): false means the writer must write them
   * again and call `settle` once more.
   */
  async settle(intact: IntactCheck, onWait?: (markers: readonly string[]) => void): Promise<boolean> {
    const failure = this.renewed.lastFailure;
    if (failure && !this.renewed.isFresh()) throw failure;
    const lapsed = !this.renewed.isFresh();
    if (lapsed) {
      await this.renewed.write();
      for (const marker of await this.liveMarkers()) this.suspects.add(marker.key);
    }
    if (this.suspects.size === 0 && !lapsed) return true;
    for (;;) {
      const live = (await this.liveMarkers()).filter((m) => this.suspects.has(m.key));
      if (live.length === 0) break;
      onWait?.(live.map((m) => m.key));
      await sleep(Math.min(1000, (this.renewed.ttlSeconds * 1000) / 8));
    }
    this.suspects.clear();
    return intact();
  }

  private async liveMarkers(): Promise<HeldKey[]> {
    const now = this.renewed.storageNow;
    return (await listHeld(this.remote, GC_PREFIX)).filter((m) => isLive(m, now));
  }

  async release(): Promise<void> {
    await this.renewed.release();
  }
}

/** gc's marker: written before gc lists anything, renewed while it runs. */
export async function takeGcMarker(remote: Remote, ttlSeconds = defaultTtlSeconds()): Promise<RenewedKey> {
  const started = holder(ttlSeconds);
  const marker = new RenewedKey(remote, `${GC_PREFIX}${randomUUID()}.json`, ttlSeconds, () => started);
  await marker.write();
  marker.keepAlive();
  return marker;
}

/** The lease id that owns a temporary key, if it follows `tmp/<lease id>/…`. */
export function tmpOwner(key: string): string | undefined {
  const match = /^tmp\/([0-9a-f-]{36})\//.exec(key);
  return match?.[1];
}

export function leaseIdOf(key: string): string {
  const id = key.slice(LEASES_PREFIX.length, -'.json'.length);
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new FormatError(`${key} is not a lease key`);
  return id;
}
