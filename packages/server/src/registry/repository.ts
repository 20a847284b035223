/**
 * A dogestry remote seen as the distribution API's repositories: names and tags from
 * `repositories/`, manifests and blobs from `blobs/`. A repository holds the manifests its
 * tags and its manifest links name (with an index's manifests), the blobs those reference,
 * and the blobs uploaded or mounted into it (its blob links; feature `registry`). Every blob
 * is served as its content (stored bytes decoded: dogestry's lz4/zstd/gzip layers, or the
 * LZ4 wrapping of an upload that began with a magic number), checked against its digest as
 * it streams: the last bytes wait for the check.
 */
import { createHash } from 'node:crypto';
import { decode, format, listTagKeys } from '@dogestry/core/internal';
import { DigestMismatchError, FormatError, NotFoundError, type Remote } from '@dogestry/core/transport';
import { blobUnknown, manifestUnknown, nameUnknown, RegistryError } from './errors.js';
import { isDigest } from './routes.js';

interface Blob {
  readonly size: number;
  readonly kind: 'manifest' | 'blob';
  readonly mediaType: string;
}

/**
 * What one repository's tags and links reach, read at once and kept briefly (tags move). On a
 * remote that cannot list (a static server, a pull ticket), it holds what manifests were asked
 * for by tag: clients ask for the manifest before its blobs.
 */
interface View {
  readonly at: number;
  readonly tags: Map<string, string>;
  /** Manifests pushed by digest into this repository (links), beside those its tags name. */
  readonly linked: Set<string>;
  readonly blobs: Map<string, Blob>;
  /** The manifests read for it, already checked against their digests: served without reading them again. */
  readonly manifests: Map<string, { bytes: Buffer; manifest: format.StoredManifest }>;
}

/** How long a repository's view is reused before its tags are read again. */
const VIEW_MS = 5_000;
/** Views kept at most: a client asking for many names (most of them unknown) cannot grow memory without bound. */
const MAX_VIEWS = 1_000;

export interface ServedBlob {
  readonly size: number;
  readonly mediaType: string;
  /** The bytes from `start` to `end` inclusive (all by default), verified against the digest. */
  open(start?: number, end?: number): Promise<AsyncIterable<Buffer>>;
}

export interface ServedManifest {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
  readonly manifest: format.StoredManifest;
}

export class Repositories {
  private readonly views = new Map<string, Promise<View>>();

  constructor(readonly remote: Remote) {}

  /** Forget what was read of `name`: a write changed it. */
  changed(name: string): void {
    this.views.delete(name);
  }

  /** Every repository name, sorted. */
  async names(): Promise<string[]> {
    await this.assertListable();
    return [...new Set((await listTagKeys(this.remote)).map((t) => t.name))].sort();
  }

  /** The tags of `name`, sorted; NAME_UNKNOWN when it has none. */
  async tags(name: string): Promise<string[]> {
    await this.assertListable();
    const view = await this.view(name);
    const tags = [...view.tags.keys()].sort();
    if (tags.length === 0 && !(await this.exists(name, view))) throw nameUnknown(name);
    return tags;
  }

  /** A manifest by tag or digest, with its digest. */
  async manifest(name: string, reference: string): Promise<ServedManifest> {
    let hex: string | undefined;
    if (isDigest(reference)) {
      const wanted = reference.slice('sha256:'.length);
      if ((await this.view(name, wanted)).blobs.get(wanted)?.kind === 'manifest') hex = wanted;
    } else {
      hex = (await this.view(name)).tags.get(reference);
      if (hex === undefined) {
        // A tag written since the view was read.
        hex = await format.readPointer(this.remote, format.tagKey({ name, tag: reference }));
      }
    }
    if (hex === undefined) {
      // Where the remote lists, a name with nothing in it is unknown; elsewhere nothing can tell.
      const view = await this.view(name);
      if (this.remote.capabilities.list && view.tags.size === 0 && !(await this.exists(name, view))) throw nameUnknown(name);
      throw manifestUnknown(name, reference);
    }
    const view = await this.view(name);
    const read = view.manifests.get(hex) ?? (await this.remember(view, hex));
    return { bytes: read.bytes, digest: `sha256:${hex}`, mediaType: read.manifest.mediaType, manifest: read.manifest };
  }

  /** Whether anything was pushed to `name` that is still there: a tag, a manifest, or a blob uploaded to it. */
  private async exists(name: string, view: View): Promise<boolean> {
    if (view.tags.size > 0 || view.linked.size > 0) return true;
    const prefix = `${format.LINKS_PREFIX}${name}/blobs/sha256/`;
    for await (const key of this.remote.list(prefix)) if (/^[0-9a-f]{64}$/.test(key.slice(prefix.length))) return true;
    return false;
  }

  /** Whether manifest `hex` is in repository `name` (a tag or a link names it, or an index there). */
  async holdsManifest(name: string, hex: string): Promise<boolean> {
    return (await this.view(name, hex)).blobs.get(hex)?.kind === 'manifest';
  }

  /** The tags of `name` that point at manifest `hex`. */
  async tagsOf(name: string, hex: string): Promise<string[]> {
    return [...(await this.view(name)).tags].filter(([, target]) => target === hex).map(([tag]) => tag);
  }

  /** The referrers API: descriptors of the manifests in `name` whose subject is `subjectHex`. */
  async referrers(name: string, subjectHex: string): Promise<object[]> {
    const found: object[] = [];
    await this.remote.prepare?.('list');
    if (!this.remote.capabilities.list) return found;
    const prefix = `${format.REFERRERS_PREFIX}${subjectHex}/`;
    for await (const key of this.remote.list(prefix)) {
      const hex = key.slice(prefix.length);
      if (!/^[0-9a-f]{64}$/.test(hex) || !(await this.holdsManifest(name, hex))) continue;
      const { bytes, manifest } = await this.manifest(name, `sha256:${hex}`).catch(() => ({ bytes: undefined, manifest: undefined }));
      if (!bytes || !manifest) continue;
      const type = manifest.artifactType ?? manifest.config?.mediaType;
      found.push({
        mediaType: manifest.mediaType,
        digest: `sha256:${hex}`,
        size: bytes.length,
        ...(type ? { artifactType: type } : {}),
        ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
      });
    }
    return found;
  }

  private async assertListable(): Promise<void> {
    await this.remote.prepare?.('list');
    if (!this.remote.capabilities.list) {
      throw new RegistryError(
        405,
        'UNSUPPORTED',
        `${this.remote.url} cannot list its keys, so neither can this registry: pull by name:tag`,
      );
    }
  }

  /** A blob in repository `name`: one its manifests reference, or one uploaded or mounted there. */
  async blob(name: string, digest: string): Promise<ServedBlob> {
    const hex = digest.slice('sha256:'.length);
    const blob = (await this.view(name, hex)).blobs.get(hex) ?? (await this.linkedBlob(name, hex));
    if (!blob) throw blobUnknown(name, digest);
    const { remote } = this;
    return {
      size: blob.size,
      mediaType: blob.mediaType,
      open: async (start = 0, end = blob.size - 1) => {
        const stored = await remote.read(format.blobKey(hex));
        if (!stored) throw blobUnknown(name, digest);
        return verified(decode(stored), hex, blob.size, start, end);
      },
    };
  }

  /** The blob link `links/<name>/blobs/sha256/<hex>`, whose content records the blob's size, where the blob is there too. */
  async linkedBlob(name: string, hex: string): Promise<Blob | undefined> {
    const text = await format.readText(this.remote, format.linkKey(name, 'blobs', hex)).catch(() => undefined);
    if (text === undefined) return undefined;
    const size = (JSON.parse(text) as { size?: unknown }).size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
    if (!(await this.remote.stat(format.blobKey(hex)))) return undefined;
    return { size, kind: 'blob', mediaType: 'application/octet-stream' };
  }

  /**
   * The repository as its tags and links reach it. `need`: a digest the caller looks for; a
   * view that lacks it is read again at once (a push may have just landed).
   */
  private async view(name: string, need?: string): Promise<View> {
    const cached = this.views.get(name);
    if (cached) {
      const view = await cached.catch(() => undefined);
      if (view && Date.now() - view.at < VIEW_MS && (need === undefined || view.blobs.has(need))) return view;
    }
    const fresh = this.readView(name);
    if (this.views.size >= MAX_VIEWS) this.views.clear();
    this.views.set(name, fresh);
    fresh.catch(() => this.views.delete(name));
    return fresh;
  }

  private async readView(name: string): Promise<View> {
    const at = Date.now();
    const view: View = { at, tags: new Map(), linked: new Set(), blobs: new Map(), manifests: new Map() };
    await this.remote.prepare?.('list');
    if (!this.remote.capabilities.list) return view;
    const found = (await listTagKeys(this.remote, `${format.REPOSITORIES_PREFIX}${name}/`)).filter((t) => t.name === name);
    const roots: string[] = [];
    for (const nameTag of found) {
      const hex = await format.readPointer(this.remote, format.tagKey(nameTag)).catch(() => undefined);
      if (!hex) continue;
      view.tags.set(nameTag.tag, hex);
      roots.push(hex);
    }
    const linkPrefix = `${format.LINKS_PREFIX}${name}/manifests/sha256/`;
    for await (const key of this.remote.list(linkPrefix)) {
      const hex = key.slice(linkPrefix.length);
      if (!/^[0-9a-f]{64}$/.test(hex)) continue; // another repository's, whose name continues this one's
      view.linked.add(hex);
      roots.push(hex);
    }
    for (const hex of new Set(roots)) {
      try {
        await this.remember(view, hex);
      } catch (error) {
        // A damaged tag or a manifest that is none: `verify` names it; the rest of the repository is served.
        if (error instanceof NotFoundError || error instanceof DigestMismatchError || error instanceof FormatError) continue;
        throw error;
      }
    }
    return view;
  }

  /** Read a manifest into a view, with what it references as blobs of the repository (an index's manifests too). */
  private async remember(view: View, hex: string, depth = 0): Promise<{ bytes: Buffer; manifest: format.StoredManifest }> {
    const known = view.manifests.get(hex);
    if (known) return known;
    const bytes = await format.readSmallBlob(this.remote, hex);
    const manifest = format.parseStoredManifest(bytes, format.blobKey(hex));
    const read = { bytes, manifest };
    view.manifests.set(hex, read);
    const { blobs } = view;
    blobs.set(hex, { size: bytes.length, kind: 'manifest', mediaType: manifest.mediaType });
    for (const d of [...(manifest.config ? [manifest.config] : []), ...manifest.layers]) {
      blobs.set(d.digest.slice(7), { size: d.size, kind: 'blob', mediaType: d.mediaType });
    }
    if (depth === 0) {
      for (const child of manifest.manifests) {
        await this.remember(view, child.digest.slice(7), depth + 1).catch((error: unknown) => {
          if (!(error instanceof NotFoundError || error instanceof DigestMismatchError)) throw error;
        });
      }
    }
    return read;
  }
}

/**
 * The bytes `start`..`end` of a blob of `size` bytes, hashed as they pass: the whole blob is
 * read (a range is cut from it), and the last piece is handed on only once the digest matched,
 * so a damaged stored blob ends the answer short instead of completing it.
 */
async function* verified(source: AsyncIterable<Buffer>, hex: string, size: number, start: number, end: number): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let at = 0;
  let held: Buffer | undefined;
  for await (const chunk of source) {
    hash.update(chunk);
    const from = Math.max(start - at, 0);
    const to = Math.min(end + 1 - at, chunk.length);
    at += chunk.length;
    if (to <= from) continue;
    if (held) yield held;
    held = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
  }
  const actual = hash.digest('hex');
  if (at !== size || actual !== hex) {
    throw new DigestMismatchError(format.blobKey(hex), `sha256:${hex}`, `sha256:${actual} (${at} bytes)`);
  }
  if (held) yield held;
}
