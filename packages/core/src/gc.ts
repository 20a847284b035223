import pLimit from 'p-limit';
import { assertListable } from './catalog.js';
import { DogestryError, FormatError, TransportError } from './errors.js';
import {
  assertWritable,
  blobKey,
  checkMarker,
  ensureMarker,
  IMAGES_PREFIX,
  imageKey,
  LINKS_PREFIX,
  parseStoredManifest,
  REFERRERS_PREFIX,
  REPOSITORIES_PREFIX,
  readPointer,
  readSmallBlob,
  readText,
  referencedBlobs,
  TMP_PREFIX,
} from './format.js';
import { GC_PREFIX, type HeldKey, isLive, LEASES_PREFIX, leaseIdOf, listHeld, type RenewedKey, takeGcMarker, tmpOwner } from './lease.js';
import { hexOf } from './reference.js';
import type { Remote, SweepResult } from './remote.js';
import { TICKETS_PREFIX } from './ticket.js';
import { type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

export interface GcOptions extends RemoteSelection {
  /**
   * Seconds: only what is older than this goes (default 3600). The protocol keeps running
   * pushes safe at any grace, 0 included; the grace is for writers that do not take part
   * (dogestry before leases, other tools).
   */
  readonly grace?: number;
  /** Report what would go, delete nothing, write nothing. */
  readonly dryRun?: boolean;
  /** How long gc's marker counts after its last renewal (default 60 s, as leases). */
  readonly markerSeconds?: number;
}

export interface GcCount {
  readonly count: number;
  readonly bytes: number;
}

export interface GcReport {
  readonly remote: string;
  readonly dryRun: boolean;
  readonly graceSeconds: number;
  /** What tags and live leases reach, kept. */
  readonly kept: { readonly tags: number; readonly blobs: number; readonly images: number; readonly leases: number };
  /** Deleted (or, with dryRun, would be): each kind of key, and the total. */
  readonly deleted: {
    readonly blobs: GcCount;
    readonly images: GcCount;
    readonly temporary: GcCount;
    readonly leases: GcCount;
    readonly tickets: GcCount;
    readonly markers: GcCount;
    /** The transport's own leftovers: a directory's temporary files, S3's unfinished multipart uploads. */
    readonly transport: GcCount;
    /** The registry face's per-repository links and referrers entries whose content went (feature `registry`). */
    readonly links: GcCount;
  };
  readonly freed: GcCount;
  /** Tags whose image could not be read (their blobs could not be marked): run `verify`. */
  readonly problems: readonly string[];
}

/**
 * Delete what no tag reaches: blobs and image pointers no tag or live lease needs, writers'
 * temporary keys whose lease has lapsed, dead leases, expired pull tickets, stale gc markers,
 * and the transport's own leftovers; each only when older than the grace.
 *
 * Safe while pushers run (docs/FORMAT.md, "gc and the writers' protocol"): gc writes its
 * marker before it lists anything, honours every live lease, and keeps its marker renewed
 * until its last delete, stopping if it cannot; a pusher that took its lease while a gc
 * marker was up waits for that gc and checks its blobs before its tag goes out.
 */
export async function gc(options: GcOptions): Promise<GcReport> {
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertListable(remote, 'gc');
  const dryRun = options.dryRun ?? false;
  if (!dryRun) await assertWritable(remote);
  if ((await checkMarker(remote, 'write')) === 'absent') return emptyReport(remote, dryRun, options.grace ?? 3600);
  if (!dryRun) await ensureMarker(remote);
  const marker = dryRun ? undefined : await takeGcMarker(remote, options.markerSeconds);
  try {
    return await new Collection(remote, options.grace ?? 3600, marker, options.signal).run();
  } finally {
    await marker?.release();
  }
}

function emptyReport(remote: Remote, dryRun: boolean, graceSeconds: number): GcReport {
  const none = { count: 0, bytes: 0 };
  return {
    remote: remote.url,
    dryRun,
    graceSeconds,
    kept: { tags: 0, blobs: 0, images: 0, leases: 0 },
    deleted: { blobs: none, images: none, temporary: none, leases: none, tickets: none, markers: none, transport: none, links: none },
    freed: none,
    problems: [],
  };
}

class Collection {
  private readonly blobs = new Set<string>();
  private readonly images = new Set<string>();
  private readonly manifests = new Set<string>();
  private readonly problems: string[] = [];
  private readonly limit = pLimit(8);
  /** gc's start in storage time: ages and lease liveness are measured from it. */
  private readonly now: number;

  constructor(
    private readonly remote: Remote,
    private readonly graceSeconds: number,
    private readonly marker: RenewedKey | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.now = marker?.storageNow ?? Date.now();
  }

  async run(): Promise<GcReport> {
    const leases = await listHeld(this.remote, LEASES_PREFIX);
    const live = leases.filter((l) => isLive(l, this.now));
    const liveIds = new Set(live.map((l) => leaseIdOf(l.key)));
    for (const lease of live) await this.markLease(lease);
    let tags = 0;
    const tagJobs: Promise<void>[] = [];
    for await (const key of this.remote.list(REPOSITORIES_PREFIX)) {
      tags++;
      tagJobs.push(this.limit(() => this.markTag(key)));
    }
    await Promise.all(tagJobs);
    const links = await this.markRegistryRoots();

    const images = await this.sweepKeys(IMAGES_PREFIX, (key) => !this.images.has(key.slice(IMAGES_PREFIX.length)), this.graceSeconds);
    const blobs = await this.sweepKeys('blobs/sha256/', (key) => !this.blobs.has(key.slice('blobs/sha256/'.length)), this.graceSeconds);
    const temporary = await this.sweepKeys(
      TMP_PREFIX,
      (key) => {
        const owner = tmpOwner(key);
        return owner === undefined || !liveIds.has(owner);
      },
      this.graceSeconds,
      // Keys of writers before leases have no owner: give them at least an hour.
      (key) => (tmpOwner(key) === undefined ? Math.max(this.graceSeconds, 3600) : this.graceSeconds),
    );
    const deadLeases = await this.deleteHeld(leases.filter((l) => !isLive(l, this.now)));
    const markers = await this.deleteHeld(
      (await listHeld(this.remote, GC_PREFIX)).filter((m) => m.key !== this.marker?.key && !isLive(m, this.now)),
    );
    const tickets = await this.sweepTickets();
    const transport = await this.sweepTransport();
    const staleLinks = await this.sweepRegistryIndex(links);
    const deleted = { blobs, images, temporary, leases: deadLeases, tickets, markers, transport, links: staleLinks };
    const all = Object.values(deleted);
    return {
      remote: this.remote.url,
      dryRun: this.marker === undefined,
      graceSeconds: this.graceSeconds,
      kept: { tags, blobs: this.blobs.size, images: this.images.size, leases: live.length },
      deleted,
      freed: { count: all.reduce((n, c) => n + c.count, 0), bytes: all.reduce((n, c) => n + c.bytes, 0) },
      problems: this.problems.sort(),
    };
  }

  private async markLease(lease: HeldKey): Promise<void> {
    for (const hex of lease.body.blobs ?? []) if (/^[0-9a-f]{64}$/.test(hex)) this.blobs.add(hex);
    for (const hex of lease.body.images ?? []) {
      if (!/^[0-9a-f]{64}$/.test(hex)) continue;
      this.images.add(hex);
      const manifestHex = await readPointer(this.remote, imageKey(hex)).catch(tolerateBroken);
      if (manifestHex) await this.markManifest(manifestHex).catch(tolerateBroken);
    }
  }

  private async markTag(key: string): Promise<void> {
    try {
      const manifestHex = await readPointer(this.remote, key);
      if (manifestHex) await this.markManifest(manifestHex);
    } catch (error) {
      tolerateBroken(error);
      this.problems.push(`${key}: ${(error as Error).message}`);
    }
  }

  /** Mark a manifest blob and everything it names: config and layers, or an index's manifests. */
  private async markManifest(hex: string): Promise<void> {
    this.blobs.add(hex);
    if (this.manifests.has(hex)) return;
    this.manifests.add(hex);
    const manifest = parseStoredManifest(await readSmallBlob(this.remote, hex), blobKey(hex));
    if (manifest.config) this.images.add(hexOf(manifest.config.digest));
    const { blobs, manifests } = referencedBlobs(manifest);
    for (const blob of blobs) this.blobs.add(blob);
    for (const child of manifests) await this.markManifest(child);
  }

  /**
   * The registry face's roots (feature `registry`): what a repository's links name while they
   * are younger than the grace (an upload or an untagged manifest a client is still pushing
   * around), then every manifest whose subject is marked (signatures, SBOMs of kept images),
   * until no more are found. Answers the keys seen, for the sweep.
   */
  private async markRegistryRoots(): Promise<{ links: string[]; referrers: string[] }> {
    const links: string[] = [];
    const jobs: Promise<void>[] = [];
    for await (const key of this.remote.list(LINKS_PREFIX)) {
      links.push(key);
      const link = parseLink(key);
      if (!link) continue;
      jobs.push(
        this.limit(async () => {
          const stat = await this.remote.stat(key);
          if (!stat || this.isOlder(stat.modified, this.graceSeconds)) return;
          if (link.kind === 'blobs') this.blobs.add(link.hex);
          else await this.markManifest(link.hex).catch((error) => this.noteBroken(key, error));
        }),
      );
    }
    await Promise.all(jobs);
    const referrers: string[] = [];
    for await (const key of this.remote.list(REFERRERS_PREFIX)) referrers.push(key);
    for (let grew = true; grew; ) {
      grew = false;
      for (const key of referrers) {
        const entry = parseReferrer(key);
        if (!entry || !this.manifests.has(entry.subject) || this.manifests.has(entry.manifest)) continue;
        await this.markManifest(entry.manifest).catch((error) => this.noteBroken(key, error));
        grew = true;
      }
    }
    return { links, referrers };
  }

  private noteBroken(key: string, error: unknown): void {
    tolerateBroken(error);
    this.problems.push(`${key}: ${(error as Error).message}`);
  }

  /** Links and referrers entries whose blob or manifest is not kept, older than the grace. */
  private async sweepRegistryIndex(seen: { links: string[]; referrers: string[] }): Promise<GcCount> {
    const doomed: string[] = [];
    await Promise.all(
      [...seen.links, ...seen.referrers].map((key) =>
        this.limit(async () => {
          const hex = parseLink(key)?.hex ?? parseReferrer(key)?.manifest;
          if (hex !== undefined && this.blobs.has(hex)) return;
          const stat = await this.remote.stat(key);
          if (stat && this.isOlder(stat.modified, this.graceSeconds)) doomed.push(key);
        }),
      ),
    );
    await this.delete(doomed);
    return { count: doomed.length, bytes: 0 };
  }

  /** Delete the keys under `prefix` that `unmarked` says no one needs and that are older than their grace. */
  private async sweepKeys(
    prefix: string,
    unmarked: (key: string) => boolean,
    graceSeconds: number,
    graceOf: (key: string) => number = () => graceSeconds,
  ): Promise<GcCount> {
    const doomed: { key: string; size: number }[] = [];
    const jobs: Promise<void>[] = [];
    for await (const key of this.remote.list(prefix)) {
      if (!unmarked(key)) continue;
      jobs.push(
        this.limit(async () => {
          const stat = await this.remote.stat(key);
          if (stat && this.isOlder(stat.modified, graceOf(key))) doomed.push({ key, size: stat.size });
        }),
      );
    }
    await Promise.all(jobs);
    await this.delete(doomed.map((d) => d.key));
    return { count: doomed.length, bytes: doomed.reduce((n, d) => n + d.size, 0) };
  }

  /** Older than `graceSeconds` before gc started; an age the storage does not tell counts only with no grace. */
  private isOlder(modified: Date | undefined, graceSeconds: number): boolean {
    if (modified === undefined) return graceSeconds === 0;
    return modified.getTime() < this.now - graceSeconds * 1000 || (graceSeconds === 0 && modified.getTime() <= this.now);
  }

  private async deleteHeld(held: readonly HeldKey[]): Promise<GcCount> {
    await this.delete(held.map((h) => h.key));
    return { count: held.length, bytes: 0 };
  }

  private async sweepTickets(): Promise<GcCount> {
    const expired: string[] = [];
    for await (const key of this.remote.list(TICKETS_PREFIX)) {
      const text = await readText(this.remote, key);
      const expires = text === undefined ? Number.NaN : Date.parse(parseTicketExpiry(text) ?? '');
      if (expires < Date.now()) expired.push(key);
    }
    await this.delete(expired);
    return { count: expired.length, bytes: 0 };
  }

  private async sweepTransport(): Promise<SweepResult> {
    if (!this.remote.sweep) return { count: 0, bytes: 0 };
    this.assertFresh();
    // Temporary files carry their last write's time, so a live one is never this old.
    const before = new Date(this.now - Math.max(this.graceSeconds, this.marker?.ttlSeconds ?? 60) * 1000);
    return this.remote.sweep(before, { dryRun: this.marker === undefined });
  }

  private async delete(keys: readonly string[]): Promise<void> {
    if (!this.marker) return; // dry run
    for (let i = 0; i < keys.length; i += 100) {
      throwIfAborted(this.signal);
      this.assertFresh();
      await this.remote.delete(keys.slice(i, i + 100));
    }
  }

  /** Pushers stop waiting for a marker that looks dead: never delete once ours might. */
  private assertFresh(): void {
    if (this.marker && !this.marker.isFresh()) {
      throw new TransportError(
        `gc could not keep its marker on ${this.remote.url} renewed (${this.marker.lastFailure?.message ?? 'too slow'}), so it stopped before deleting more: run it again`,
        { retryable: true },
      );
    }
  }
}

function parseTicketExpiry(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as { expires?: unknown };
    return typeof value.expires === 'string' ? value.expires : undefined;
  } catch {
    return undefined;
  }
}

/** Damage (a missing or corrupt manifest) is reported and skipped; a failing storage stops gc. */
function tolerateBroken(error: unknown): undefined {
  if (error instanceof DogestryError && (error instanceof FormatError || ['NOT_FOUND', 'DIGEST_MISMATCH'].includes(error.code))) {
    return undefined;
  }
  throw error;
}

/** `links/<name>/blobs/sha256/<hex>` or `links/<name>/manifests/sha256/<hex>`. */
function parseLink(key: string): { kind: 'blobs' | 'manifests'; hex: string } | undefined {
  const match = /\/(blobs|manifests)\/sha256\/([0-9a-f]{64})$/.exec(key);
  return match ? { kind: match[1] as 'blobs' | 'manifests', hex: match[2] as string } : undefined;
}

/** `referrers/sha256/<subject hex>/<manifest hex>`. */
function parseReferrer(key: string): { subject: string; manifest: string } | undefined {
  const match = /^referrers\/sha256\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(key);
  return match ? { subject: match[1] as string, manifest: match[2] as string } : undefined;
}
