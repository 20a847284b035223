import pLimit from 'p-limit';
import { BufferPool } from './buffer-pool.js';
import { BlobCache, type CacheFill, defaultCacheDir } from './cache.js';
import { type DelegationOptions, pullDelegating } from './delegate.js';
import { DirectLayer } from './direct-layer.js';
import { DockerApiEngine } from './docker/api-engine.js';
import type { DockerEngine, EngineImage } from './docker/engine.js';
import { buildLoadTar } from './docker/load-tar.js';
import { type EngineSelection, selectEngine } from './engine-resolution.js';
import { CacheCorruptError, PartialPullError } from './errors.js';
import { readImage, requireRepository } from './format.js';
import { SEGMENT } from './lz4-frames.js';
import type { ProgressListener } from './progress.js';
import { formatNameTag, hexOf, type NameTag, parseNameTag } from './reference.js';
import { resolveImage } from './resolve.js';
import { abortedBy, type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

export interface PullOptions extends EngineSelection, RemoteSelection {
  /** `name[:tag]` or an image-id prefix. */
  readonly image: string;
  /** Tag the pulled image as this `name:tag` (default: the name:tag pulled, if pulled by tag). */
  readonly as?: string;
  /** Load into several engines from one download (overrides engine/dockerHost). */
  readonly engines?: readonly DockerEngine[];
  /**
   * Docker hosts to load into (`--pull-hosts`), used when `engines` is not given. A
   * `dogestry://HOST:PORT` host is a host agent that pulls for itself (see delegate.ts).
   */
  readonly dockerHosts?: readonly string[];
  /** How hosts with a dogestry server (host agent) are found and handed the pull. */
  readonly delegation?: DelegationOptions;
  /** Content-addressed cache of decoded, verified blobs (default ~/.cache/dogestry). */
  readonly cacheDir?: string;
  /**
   * Download every missing layer into the cache, even into one engine, so a later pull of it
   * downloads nothing. By default a pull into one engine streams each layer from the remote
   * straight into the load, which costs no disk copy and ~65 MiB less peak memory.
   */
  readonly fillCache?: boolean;
  readonly onProgress?: ProgressListener;
  /**
   * Parallel downloads into the cache, when several engines share them (default 2: the engine's
   * load, which consumes layers in order, is the slower side; measured on 1 GiB, 4 gave no speed
   * and ~30 MB more peak RSS). Into one engine, layers stream one after another, each read
   * starting as the one before it verifies.
   */
  readonly concurrency?: number;
}

export interface EnginePullResult {
  readonly engine: string;
  /** Set when this engine failed (the others were still loaded): its error's code and message. */
  readonly error?: { readonly code: string; readonly message: string };
  /** Layers sent in the load tar (0 when the engine already had the image). */
  readonly layersLoaded: number;
  readonly layersPresent: number;
  readonly alreadyPresent: boolean;
  /** Set when the host's own dogestry server pulled (delegated): the stored bytes it downloaded itself. */
  readonly delegated?: { readonly bytesDownloaded: number };
}

export interface PullResult {
  readonly remote: string;
  readonly image: string | undefined;
  readonly imageId: string;
  readonly manifestDigest: string;
  /** Stored bytes read from the remote (0 when everything came from the cache). */
  readonly bytesDownloaded: number;
  readonly engines: readonly EnginePullResult[];
}

/**
 * Pull an image from a remote into one or more engines.
 *
 * Reads tag -> manifest -> config (each verified by digest), works out for each engine the
 * longest chain prefix of layers it already has, streams to each engine a load tar holding only
 * its missing layers, and tags. Into one engine, each missing layer streams from the remote
 * straight into the load (or from the local cache, if it holds the layer); into several, each
 * layer some engine lacks is downloaded once into the cache (decoded and verified before it is
 * stored) and streams into every load that needs it as it arrives. Layers stream as they
 * download, but no unverified layer is ever loaded: its last byte and the tar's manifest
 * wait for verification, and a layer that fails it cuts the load, which the engine refuses
 * whole. Podman rejects partial loads, so it is sent every layer.
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const hosts = options.engines ? undefined : options.dockerHosts;
  if (hosts?.length && (options.delegation?.serverToken || hosts.some((h) => h.startsWith('dogestry:')))) {
    return pullDelegating({ ...options, dockerHosts: hosts }, (direct) => pullRepairing({ ...options, dockerHosts: direct }));
  }
  return pullRepairing(options);
}

async function pullRepairing(options: PullOptions): Promise<PullResult> {
  try {
    return await pullOnce(options);
  } catch (error) {
    // A damaged cache file was found (and evicted) while a load read it: that load was cut,
    // so the engine has nothing of it. Once more, fetching that blob from the remote.
    if (!(error instanceof CacheCorruptError)) throw error;
    options.onProgress?.({ type: 'repair', key: 'cache', reason: error.message });
    return pullOnce(options);
  }
}

async function pullOnce(options: PullOptions): Promise<PullResult> {
  const asTag = options.as === undefined ? undefined : parseNameTag(options.as);
  const engines =
    options.engines ??
    (options.dockerHosts?.length
      ? options.dockerHosts.map((h) => new DockerApiEngine(h, options.env ?? process.env))
      : [selectEngine(options)]);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await requireRepository(remote);
  // An image pulled by id is tagged with the name the remote holds it under, unless it holds several.
  const resolved = await resolveImage(remote, options.image, { nameIds: true });
  const { manifest, config, diffIds, manifestHex } = await readImage(remote, resolved.manifestHex);
  const configHex = hexOf(manifest.config.digest);
  const imageId = `sha256:${configHex}`;
  const name: NameTag | undefined = asTag ?? resolved.nameTag ?? resolved.heldAs;
  const emit = options.onProgress;

  // Each engine on its own: one that cannot be reached does not keep the others from loading.
  const planned = await Promise.all(
    engines.map(async (engine) => {
      try {
        const info = await engine.info();
        // The containerd image store names images by manifest digest and takes loads whole:
        // load everything, and let the load itself name the image (never a tag by config id).
        if (info.imageStore === 'containerd') return { engine, present: 0, already: false, namedByLoad: true };
        const existing = await engine.inspectImage(imageId);
        if (existing) return { engine, present: diffIds.length, already: true };
        // Podman rejects partial loads ("Some layer tarfiles are missing").
        const present = info.kind === 'podman' ? 0 : sharedChainLength(diffIds, await engine.listImages());
        return { engine, present, already: false };
      } catch (error) {
        return { engine, error: error as Error };
      }
    }),
  );
  const unplanned = planned.filter((p): p is { engine: DockerEngine; error: Error } => 'error' in p);
  const plans = planned.filter(
    (p): p is { engine: DockerEngine; present: number; already: boolean; namedByLoad?: boolean } => !('error' in p),
  );
  if (plans.length === 0) throw unplanned[0]?.error;
  const cache = new BlobCache(options.cacheDir ?? defaultCacheDir(options.env ?? process.env));
  const stop = new AbortController();
  // One engine to load, with every layer's size known: each layer it lacks streams from the
  // remote into the load with no cache copy (direct-layer.ts), unless the cache already holds
  // it. Several engines share one download through the cache. (A layer said to be empty is
  // never read by the load, so it goes through the cache, which checks it.)
  const loading = plans.filter((p) => !p.already);
  const direct =
    !options.fillCache && loading.length === 1 && manifest.layers.every((layer) => layer.encoding === 'none' && layer.size > 0);
  const directs = new Map<string, DirectLayer>();
  const fills = new Map<string, CacheFill>();
  if (direct) {
    // Decoded blocks are lent to the load and come back once written (buffer-pool.ts).
    const pool = new BufferPool(SEGMENT);
    const present = (loading[0] as { present: number }).present;
    let previous: DirectLayer | undefined;
    for (const [i, diffId] of diffIds.entries()) {
      if (i < present || directs.has(diffId) || fills.has(diffId)) continue;
      const { size } = manifest.layers[i] as { size: number };
      if ((await cache.held(hexOf(diffId), size, emit)) !== undefined) {
        fills.set(diffId, cache.fill(hexOf(diffId), size));
        continue;
      }
      const layer = new DirectLayer(remote, hexOf(diffId), size, options.onProgress, stop.signal, pool);
      previous?.followedBy(layer);
      previous = layer;
      directs.set(diffId, layer);
    }
  }
  // Otherwise the layers some engine lacks, each fetched once into the cache whichever engines need it.
  for (const { already, present } of direct ? [] : plans) {
    if (already) continue;
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = diffIds[i] as string;
      if (i < present || fills.has(diffId)) continue;
      // A layer a registry client pushed gzip- or zstd-compressed: its tar's size is known once cached.
      const fill =
        layer.encoding === 'none'
          ? cache.fill(hexOf(diffId), layer.size)
          : cache.fill(hexOf(diffId), undefined, { hex: hexOf(layer.digest), size: layer.size });
      fills.set(diffId, fill);
    }
  }
  emit?.({
    type: 'plan',
    operation: 'pull',
    image: name ? formatNameTag(name) : imageId,
    layers: new Set(diffIds).size,
    missing: fills.size + directs.size,
  });

  const limit = pLimit(options.concurrency ?? 2);
  let bytesDownloaded = 0;
  // Downloads start now, in parallel, into the cache; each engine's load starts at once too
  // and streams each layer from the cache while it arrives (see buildLoadTar for why no
  // unverified layer can be loaded). A failed download stops the others and cuts the load
  // tars, and an engine discards a load cut short.
  const cancel = () => stop.abort(abortedBy(options.signal as AbortSignal));
  options.signal?.addEventListener('abort', cancel, { once: true });
  using _detach = { [Symbol.dispose]: () => options.signal?.removeEventListener('abort', cancel) };
  throwIfAborted(options.signal);
  const fetched = [...fills].map(([diffId, fill]) =>
    limit(async () => {
      emit?.(fill.sizeKnown ? { type: 'layer-start', diffId, size: fill.size } : { type: 'layer-start', diffId });
      const { downloaded, bytes } = await fill.fetch(remote, emit, stop.signal);
      bytesDownloaded += bytes;
      emit?.({ type: 'layer-done', diffId, bytes, size: fill.size, result: downloaded ? 'downloaded' : 'cached' });
    }).catch((error: Error) => {
      stop.abort(error);
      throw error;
    }),
  );
  for (const job of fetched) job.catch(() => {}); // awaited below; this only silences early rejections
  const allFetched = Promise.all(fetched);

  const loaded = await Promise.allSettled(
    plans.map(async ({ engine, present, already, namedByLoad }): Promise<EnginePullResult> => {
      if (!already) {
        // A load tar names each layer's size before its bytes: layers whose size only their
        // decompression tells are fetched whole first.
        if ([...fills.values()].some((fill) => !fill.sizeKnown)) await allFetched;
        const layers = diffIds.map((diffId, i) => {
          const source = i < present ? undefined : (fills.get(diffId) ?? directs.get(diffId));
          const size = source?.size ?? (manifest.layers[i] as { size: number }).size;
          return source ? { diffHex: source.hex, size, open: () => source.reader() } : { diffHex: hexOf(diffId), size };
        });
        emit?.({ type: 'load', engine: engine.endpoint, layers: diffIds.length - present, state: 'start' });
        try {
          const repoTags = namedByLoad && name ? [formatNameTag(name)] : [];
          await Promise.all([engine.load(buildLoadTar(configHex, config, layers, repoTags)), allFetched]);
        } catch (error) {
          await allFetched; // a failed download is the cause; the engine's error is its echo
          const cause = [...directs.values()].find((layer) => layer.cause)?.cause;
          for (const layer of directs.values()) layer.abandon(); // the next one may have started early
          throw cause ?? error;
        }
        for (const layer of directs.values()) bytesDownloaded += layer.bytes;
        emit?.({ type: 'load', engine: engine.endpoint, layers: diffIds.length - present, state: 'done' });
      } else emit?.({ type: 'load', engine: engine.endpoint, layers: 0, state: 'skipped' });
      if (name && !namedByLoad) await engine.tag(imageId, name.name, name.tag);
      return {
        engine: engine.endpoint,
        layersLoaded: already ? 0 : new Set(diffIds.slice(present)).size,
        layersPresent: present,
        alreadyPresent: already,
      };
    }),
  );
  await allFetched.catch(() => {}); // a failed download failed every engine that needed it, below
  const failures: { engine: string; error: Error }[] = unplanned.map((u) => ({ engine: u.engine.endpoint, error: u.error }));
  const succeeded: EnginePullResult[] = [];
  for (const [i, outcome] of loaded.entries()) {
    if (outcome.status === 'fulfilled') succeeded.push(outcome.value);
    else failures.push({ engine: (plans[i] as { engine: DockerEngine }).engine.endpoint, error: outcome.reason as Error });
  }
  const result: PullResult = {
    remote: remote.url,
    image: name ? formatNameTag(name) : undefined,
    imageId,
    manifestDigest: `sha256:${manifestHex}`,
    bytesDownloaded,
    engines: engines.map((engine) => {
      const ok = succeeded.find((r) => r.engine === engine.endpoint);
      if (ok) return ok;
      const failed = failures.find((f) => f.engine === engine.endpoint)?.error;
      const error = { code: (failed as { code?: string }).code ?? 'UNEXPECTED', message: failed?.message ?? 'failed' };
      return { engine: engine.endpoint, error, layersLoaded: 0, layersPresent: 0, alreadyPresent: false };
    }),
  };
  if (failures.length === 0) return result;
  // One engine, or all of them, failed: the (first) error as it is, with its own exit code.
  if (succeeded.length === 0) throw failures[0]?.error;
  throw new PartialPullError(
    `loaded ${result.image ?? imageId} into ${succeeded.length} of ${engines.length} engines; failed: ${failures
      .map((f) => `${f.engine} (${(f.error as { code?: string }).code ?? 'UNEXPECTED'}: ${f.error.message})`)
      .join('; ')}`,
    { report: result },
  );
}

/** How many bottom layers of `diffIds` some engine image already has, as the same chain. */
export function sharedChainLength(diffIds: readonly string[], images: readonly EngineImage[]): number {
  let best = 0;
  for (const image of images) {
    let n = 0;
    while (n < diffIds.length && n < image.diffIds.length && image.diffIds[n] === diffIds[n]) n++;
    best = Math.max(best, n);
  }
  return best;
}
