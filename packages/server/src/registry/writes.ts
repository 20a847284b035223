/**
 * The registry face's writes (feature `registry`, docs/FORMAT.md): blob links when an upload
 * completes or a blob is mounted, manifests stored as pushed, and deletes of tags, manifests
 * and blob links. A manifest goes through the writers' protocol like `dogestry push`: a lease
 * naming every blob it needs before their presence is checked, the manifest and its image
 * pointer, a referrers entry for its subject, and the tag last, so a tag never names a
 * manifest whose blobs are not all there, whatever gc runs meanwhile. Deletes remove only
 * what names content (tags, links); `dogestry gc` reclaims the content.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { format, WriterLease } from '@dogestry/core/internal';
import { FormatError, type Remote } from '@dogestry/core/transport';
import { manifestUnknown, RegistryError } from './errors.js';
import type { Repositories } from './repository.js';
import { isDigest } from './routes.js';

export const REGISTRY_FEATURE = 'registry';

export class RegistryWriter {
  /** The marker checked and the feature added, and the lease under which uploads stage their parts. */
  private ready: Promise<WriterLease> | undefined;

  constructor(
    private readonly remote: Remote,
    private readonly repositories: Repositories,
  ) {}

  /** Before the first write: a writable remote whose marker names the `registry` feature, and the server's lease. */
  prepare(): Promise<WriterLease> {
    this.ready ??= (async () => {
      await format.assertWritable(this.remote);
      await format.checkMarker(this.remote, 'write');
      await format.ensureMarker(this.remote, [...format.WRITER_FEATURES, REGISTRY_FEATURE]);
      return WriterLease.take(this.remote);
    })();
    this.ready.catch(() => {
      this.ready = undefined;
    });
    return this.ready;
  }

  async tmpPrefix(): Promise<string> {
    return (await this.prepare()).tmpPrefix;
  }

  /** Record that blob `hex` of `size` bytes is in repository `name`. */
  async linkBlob(name: string, hex: string, size: number): Promise<void> {
    await this.prepare();
    const body = Buffer.from(`${JSON.stringify({ size })}\n`);
    await this.remote.write(format.linkKey(name, 'blobs', hex), Readable.from([body]), { size: body.length });
    this.repositories.changed(name);
  }

  /** Mount blob `hex` from repository `from` into `name`: true where `from` holds it. */
  async mount(name: string, from: string, hex: string): Promise<boolean> {
    const blob = await this.repositories.blob(from, `sha256:${hex}`).catch(() => undefined);
    if (!blob) return false;
    await this.linkBlob(name, hex, blob.size);
    return true;
  }

  /**
   * Store a manifest pushed to `name` as `reference` (a tag or its digest). A tag is written
   * only when every blob the manifest references (an index: every manifest) is on the remote.
   * By digest, what it references may come later (clients push referrers and their blobs in
   * any order; the spec's conformance suite pushes an artifact before its config): it is
   * reachable only by that digest until then. Its subject never needs to be there.
   */
  async putManifest(
    name: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
  ): Promise<{ hex: string; manifest: format.StoredManifest }> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    if (isDigest(reference) && reference !== `sha256:${hex}`) {
      throw new RegistryError(400, 'DIGEST_INVALID', `the manifest's bytes hash to sha256:${hex}, not ${reference}`);
    }
    const declared = contentType && format.MANIFEST_TYPES[contentType] ? contentType : undefined;
    let manifest: format.StoredManifest;
    try {
      manifest = format.parseStoredManifest(bytes, `manifest ${reference}`, declared);
    } catch (error) {
      if (error instanceof FormatError) throw new RegistryError(400, 'MANIFEST_INVALID', error.message);
      throw error;
    }
    const needed = format.referencedBlobs(manifest);
    const image = manifest.config && format.isImageConfig(manifest.config) ? manifest.config.digest.slice(7) : undefined;
    await this.prepare();
    const tagged = !isDigest(reference);
    const lease = await WriterLease.take(this.remote, undefined, [hex, ...needed.blobs, ...needed.manifests], image ? [image] : []);
    try {
      for (let attempt = 0; ; attempt++) {
        if (tagged) await this.assertPresent([...needed.blobs, ...needed.manifests]);
        await this.writeOnce(format.blobKey(hex), bytes);
        if (image) await this.writeOnce(format.imageKey(image), format.pointerBody(hex));
        if (manifest.subject) await this.writeOnce(format.referrerKey(manifest.subject.digest.slice(7), hex), Buffer.alloc(0));
        const intact = () => this.allPresent(tagged ? [hex, ...needed.blobs, ...needed.manifests] : [hex]);
        if (await lease.settle(intact)) break;
        if (attempt >= 2) throw new RegistryError(503, 'UNSUPPORTED', 'a gc keeps removing what this manifest needs: push it again later');
      }
      if (tagged) {
        const tag = format.pointerBody(hex);
        await this.remote.write(format.tagKey({ name, tag: reference }), Readable.from([tag]), { size: tag.length });
      }
      await this.writeOnce(format.linkKey(name, 'manifests', hex), Buffer.alloc(0));
    } finally {
      await lease.release();
      this.repositories.changed(name);
    }
    return { hex, manifest };
  }

  /** DELETE of a manifest by tag (the tag only) or by digest (its link and every tag of it in `name`). */
  async deleteManifest(name: string, reference: string): Promise<void> {
    await this.prepare();
    try {
      if (!isDigest(reference)) {
        const key = format.tagKey({ name, tag: reference });
        if (!(await this.remote.stat(key))) throw manifestUnknown(name, reference);
        await this.remote.delete([key]);
        return;
      }
      const hex = reference.slice('sha256:'.length);
      if (!(await this.repositories.holdsManifest(name, hex))) throw manifestUnknown(name, reference);
      const tags = await this.repositories.tagsOf(name, hex);
      await this.remote.delete([format.linkKey(name, 'manifests', hex), ...tags.map((tag) => format.tagKey({ name, tag }))]);
    } finally {
      this.repositories.changed(name);
    }
  }

  /** DELETE of a blob: its link in `name` goes; the content stays for other repositories until gc finds it unreferenced. */
  async deleteBlob(name: string, hex: string): Promise<boolean> {
    await this.prepare();
    const key = format.linkKey(name, 'blobs', hex);
    if (!(await this.remote.stat(key))) return false;
    await this.remote.delete([key]);
    this.repositories.changed(name);
    return true;
  }

  private async writeOnce(key: string, body: Buffer): Promise<void> {
    await this.remote.write(key, Readable.from([body]), { createOnly: true, size: body.length });
  }

  private async assertPresent(hexes: readonly string[]): Promise<void> {
    const missing = await this.missing(hexes);
    if (missing) {
      throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', `blob sha256:${missing} is not in this registry: push it before the manifest`);
    }
  }

  private async allPresent(hexes: readonly string[]): Promise<boolean> {
    return (await this.missing(hexes)) === undefined;
  }

  /** One of `hexes` whose blob is not on the remote. */
  private async missing(hexes: readonly string[]): Promise<string | undefined> {
    const found = await Promise.all(
      [...new Set(hexes)].map(async (hex) => ((await this.remote.stat(format.blobKey(hex))) ? undefined : hex)),
    );
    return found.find((hex) => hex !== undefined);
  }

  async close(): Promise<void> {
    const lease = await this.ready?.catch(() => undefined);
    await lease?.release();
  }
}
