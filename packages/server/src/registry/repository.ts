/**
 * A dogestry remote seen as the distribution API's repositories: names and tags from
 * `repositories/`, manifests and blobs from `blobs/`, each blob answered only in a repository
 * whose images reference it. Layers are stored encoded (lz4, zstd, gzip) but their
 * descriptors describe the uncompressed tar, so they are served decoded, checked against
 * their digest as they stream: the last bytes wait for the check.
 */
import { createHash } from 'node:crypto';
import { decode, format, listTagKeys } from '@dogestry/core/internal';
import { DigestMismatchError, NotFoundError, type Remote } from '@dogestry/core/transport';
import { blobUnknown, manifestUnknown, nameUnknown, RegistryError } from './errors.js';
import { isDigest } from './routes.js';

interface Blob {
  readonly size: number;
  readonly kind: 'manifest' | 'config' | 'layer';
  readonly mediaType: string;
}

/**
 * What one repository's tags reach, read at once and kept briefly (tags move). On a remote
 * that cannot list (a static server, a pull ticket), it holds what manifests were asked for by
 * tag: clients ask for the manifest before its blobs.
 */
interface View {
  readonly at: number;
  readonly tags: Map<string, string>;
  readonly blobs: Map<string, Blob>;
  /** The manifests read for it, already checked against their digests: served without reading them again. */
  readonly manifests: Map<string, Buffer>;
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

export class Repositories {
  private readonly views = new Map<string, Promise<View>>();

  constructor(readonly remote: Remote) {}

  /** Every repository name, sorted. */
  async names(): Promise<string[]> {
    await this.assertListable();
    return [...new Set((await listTagKeys(this.remote)).map((t) => t.name))].sort();
  }

  /** The tags of `name`, sorted; NAME_UNKNOWN when it has none. */
  async tags(name: string): Promise<string[]> {
    await this.assertListable();
    const tags = [...(await this.view(name)).tags.keys()].sort();
    if (tags.length === 0) throw nameUnknown(name);
    return tags;
  }

  /** A manifest by tag or digest, with its digest. */
  async manifest(name: string, reference: string): Promise<{ bytes: Buffer; digest: string; mediaType: string }> {
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
      // Where the remote lists, a name with no tags is unknown; elsewhere nothing can tell.
      if (this.remote.capabilities.list && (await this.view(name)).tags.size === 0) throw nameUnknown(name);
      throw manifestUnknown(name, reference);
    }
    const view = await this.view(name);
    let bytes = view.manifests.get(hex);
    if (!bytes) {
      bytes = await format.readSmallBlob(this.remote, hex);
      remember(view, hex, bytes, format.parseManifest(bytes, format.blobKey(hex)));
    }
    return { bytes, digest: `sha256:${hex}`, mediaType: view.blobs.get(hex)?.mediaType ?? format.MEDIA_MANIFEST };
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

  /** A blob that an image of `name` references. */
  async blob(name: string, digest: string): Promise<ServedBlob> {
    const hex = digest.slice('sha256:'.length);
    const blob = (await this.view(name, hex)).blobs.get(hex);
    if (!blob) throw blobUnknown(name, digest);
    const { remote } = this;
    return {
      size: blob.size,
      mediaType: blob.mediaType,
      open: async (start = 0, end = blob.size - 1) => {
        const stored = await remote.read(format.blobKey(hex));
        if (!stored) throw blobUnknown(name, digest);
        const bytes = blob.kind === 'layer' ? decode(stored) : (stored as AsyncIterable<Buffer>);
        return verified(bytes, hex, blob.size, start, end);
      },
    };
  }

  /**
   * The repository as its tags reach it. `need`: a digest the caller looks for; a view that
   * lacks it is read again at once (a push may have just landed).
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
    const tags = new Map<string, string>();
    const view: View = { at, tags, blobs: new Map(), manifests: new Map() };
    await this.remote.prepare?.('list');
    if (!this.remote.capabilities.list) return view;
    const found = (await listTagKeys(this.remote, `${format.REPOSITORIES_PREFIX}${name}/`)).filter((t) => t.name === name);
    for (const nameTag of found) {
      const hex = await format.readPointer(this.remote, format.tagKey(nameTag)).catch(() => undefined);
      if (!hex) continue;
      tags.set(nameTag.tag, hex);
      if (view.manifests.has(hex)) continue;
      try {
        const bytes = await format.readSmallBlob(this.remote, hex);
        remember(view, hex, bytes, format.parseManifest(bytes, format.blobKey(hex)));
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof DigestMismatchError) continue; // a damaged tag: `verify` names it
        throw error;
      }
    }
    return view;
  }
}

/** A manifest and what it references, as blobs of the repository. */
function remember(view: View, hex: string, bytes: Buffer, manifest: format.ImageManifest): void {
  const { blobs } = view;
  view.manifests.set(hex, bytes);
  blobs.set(hex, { size: bytes.length, kind: 'manifest', mediaType: manifest.mediaType ?? format.MEDIA_MANIFEST });
  const { config } = manifest;
  blobs.set(config.digest.slice(7), { size: config.size, kind: 'config', mediaType: config.mediaType });
  for (const layer of manifest.layers) blobs.set(layer.digest.slice(7), { size: layer.size, kind: 'layer', mediaType: layer.mediaType });
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
    throw new DigestMismatchError(format.blobKey(hex), `sha256:${hex} (${size} bytes)`, `sha256:${actual} (${at} bytes)`);
  }
  if (held) yield held;
}
