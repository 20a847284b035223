import pLimit from 'p-limit';
import { BufferPool, written } from './buffer-pool.js';
import { assertListable, listTagKeys } from './catalog.js';
import { decodeInto } from './compression.js';
import { DogestryError, FormatError, TransportError } from './errors.js';
import {
  assertWritable,
  blobKey,
  imageKey,
  isImageConfig,
  parseStoredManifest,
  readImage,
  readPointer,
  readSmallBlob,
  requireRepository,
  tagKey,
} from './format.js';
import { SEGMENT } from './lz4-frames.js';
import { formatNameTag, hexOf } from './reference.js';
import type { Remote } from './remote.js';
import { streamHash } from './sha256.js';
import { type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

export interface VerifyProblem {
  readonly key: string;
  /**
   * `missing`: not on the remote; `digest-mismatch`: its bytes (decoded) do not hash to its
   * key or are not the size its manifest records, or do not decode; `unreadable`: a tag,
   * pointer, manifest or config that is not what the format says (FORMAT.md).
   */
  readonly problem: 'missing' | 'digest-mismatch' | 'unreadable';
  readonly detail: string;
  /** Tags whose images need this key. */
  readonly tags: readonly string[];
}

export interface VerifyReport {
  readonly remote: string;
  readonly tags: number;
  readonly blobs: number;
  readonly bytes: number;
  readonly problems: readonly VerifyProblem[];
  /** With `repair`: the corrupt blobs deleted, so that pushing the affected images again rewrites them. */
  readonly repaired: readonly string[];
  /** Tags whose images need pushing again (every tag named by a problem). */
  readonly pushAgain: readonly string[];
}

export interface VerifyOptions extends RemoteSelection {
  readonly concurrency?: number;
  /** Delete every blob that fails its hash (and nothing else), so a push writes it again. */
  readonly repair?: boolean;
}

/**
 * Check everything a pull relies on, for every tag: the tag and its image pointer, the
 * manifest and config (digests, and that they agree), and every layer re-read, decoded and
 * re-hashed against its diffID and recorded size, each blob once. Reports every problem and
 * goes on; a failing storage (TRANSPORT, AUTH) stops it, so a flaky network is never taken
 * for corruption and `repair` never deletes on one.
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  await using selected = await useRemote(options);
  const remote = selected.remote;
  await assertListable(remote, 'verify');
  if (options.repair) await assertWritable(remote);
  await requireRepository(remote);
  const problems: VerifyProblem[] = [];
  /** Layer blobs -> the decoded sizes manifests record for them -> the tags of those manifests. */
  const blobs = new Map<string, Map<number, string[]>>();
  /** Manifests and configs read (and hashed) whole. */
  const metadata = new Set<string>();
  const tags = await listTagKeys(remote);
  const tagLimit = pLimit(8);
  /** Blobs to re-read and hash below, each with the sizes descriptors record for it. */
  const needBlob = (hex: string, size: number, tag: string) => {
    const sizes = blobs.get(hex) ?? new Map<number, string[]>();
    blobs.set(hex, sizes);
    const tagsOfSize = sizes.get(size) ?? [];
    sizes.set(size, tagsOfSize);
    if (!tagsOfSize.includes(tag)) tagsOfSize.push(tag);
  };
  /**
   * Check a manifest and what it references. An image: manifest and config (digests, and that
   * they agree) and its image pointer; an index: each of its manifests; an artifact (feature
   * `registry`): its config and layers as blobs.
   */
  const walk = async (manifestHex: string, tag: string, depth = 0): Promise<void> => {
    let key = blobKey(manifestHex);
    try {
      const stored = parseStoredManifest(await readSmallBlob(remote, manifestHex), key);
      metadata.add(manifestHex);
      if (stored.kind === 'index') {
        if (depth > 0) throw new FormatError(`${key} is an index inside an index`);
        for (const child of stored.manifests) await walk(hexOf(child.digest), tag, depth + 1);
        return;
      }
      const config = stored.config as { mediaType: string; digest: string; size: number };
      if (!isImageConfig(config)) {
        for (const d of [config, ...stored.layers]) needBlob(hexOf(d.digest), d.size, tag);
        return;
      }
      const { manifest } = await readImage(remote, manifestHex);
      const configHex = hexOf(manifest.config.digest);
      metadata.add(configHex);
      key = imageKey(configHex);
      if (!(await remote.stat(key))) problems.push({ key, problem: 'missing', detail: 'not on the remote', tags: [tag] });
      // The config was read and hashed whole by readImage; layers are hashed below.
      for (const layer of manifest.layers) needBlob(hexOf(layer.digest), layer.size, tag);
    } catch (error) {
      problems.push(problemOf(key, error, [tag]));
    }
  };
  await Promise.all(
    tags.map((nameTag) =>
      tagLimit(async () => {
        const tag = formatNameTag(nameTag);
        const key = tagKey(nameTag);
        try {
          const manifestHex = await readPointer(remote, key);
          if (!manifestHex) return; // removed while we listed
          await walk(manifestHex, tag);
        } catch (error) {
          problems.push(problemOf(key, error, [tag]));
        }
      }),
    ),
  );
  const limit = pLimit(options.concurrency ?? 4);
  let bytes = 0;
  await Promise.all(
    [...blobs].map(([hex, sizes]) =>
      limit(async () => {
        throwIfAborted(options.signal);
        const key = blobKey(hex);
        const tagList = [...sizes.values()].flat();
        try {
          const checked = await checkLayerBlob(remote, hex);
          bytes += checked.bytes;
          if (checked.problem) problems.push({ key, problem: checked.problem.kind, detail: checked.problem.detail, tags: tagList });
          else {
            for (const [size, tagsOfSize] of sizes) {
              if (size === checked.bytes) continue;
              // The blob is right; these manifests record a size it does not have (pull refuses it).
              const detail = `decodes to ${checked.bytes} bytes; the manifest of ${tagsOfSize.join(', ')} says ${size}`;
              problems.push({ key: `${key} (size)`, problem: 'unreadable', detail, tags: tagsOfSize });
            }
          }
        } catch (error) {
          problems.push(problemOf(key, error, tagList));
        }
      }),
    ),
  );
  problems.sort((a, b) => a.key.localeCompare(b.key));
  const repaired = options.repair ? await repairBlobs(remote, problems) : [];
  const pushAgain = [...new Set(problems.flatMap((p) => p.tags))].sort();
  return { remote: remote.url, tags: tags.length, blobs: blobs.size + metadata.size, bytes, problems, repaired, pushAgain };
}

/** Decode and hash one layer blob: its problem, if any, and the decoded bytes read. */
async function checkLayerBlob(
  remote: Remote,
  hex: string,
): Promise<{ bytes: number; problem?: { kind: VerifyProblem['problem']; detail: string } }> {
  const body = await remote.read(blobKey(hex));
  if (!body) return { bytes: 0, problem: { kind: 'missing', detail: 'not on the remote' } };
  const hash = streamHash();
  let decoded = 0;
  // Each decoded block's buffer goes back to the pool once the hash has read it (buffer-pool.ts).
  const pool = new BufferPool(SEGMENT);
  try {
    await decodeInto(
      body,
      (chunk) => {
        decoded += chunk.length;
        const wait = hash.update(chunk);
        written(chunk);
        return wait;
      },
      pool,
    );
  } catch (error) {
    hash.discard();
    if (error instanceof DogestryError) throw error;
    if ((error as NodeJS.ErrnoException).code?.startsWith('E')) throw new TransportError((error as Error).message, { cause: error });
    return { bytes: decoded, problem: { kind: 'digest-mismatch', detail: `does not decode (${(error as Error).message})` } };
  }
  const digest = `sha256:${await hash.digest()}`;
  if (digest !== `sha256:${hex}`) return { bytes: decoded, problem: { kind: 'digest-mismatch', detail: `hashes to ${digest}` } };
  return { bytes: decoded };
}

/** Delete the blobs whose bytes are wrong (never a missing one, never a tag or pointer). */
async function repairBlobs(remote: Remote, problems: readonly VerifyProblem[]): Promise<string[]> {
  const corrupt = [...new Set(problems.filter((p) => p.problem === 'digest-mismatch' && p.key.startsWith('blobs/')).map((p) => p.key))];
  if (corrupt.length > 0) await remote.delete(corrupt);
  return corrupt;
}

function problemOf(key: string, error: unknown, tags: string[]): VerifyProblem {
  if (!(error instanceof DogestryError)) throw error;
  if (error.code === 'NOT_FOUND') return { key: keyOfMessage(error) ?? key, problem: 'missing', detail: 'not on the remote', tags };
  if (error.code === 'DIGEST_MISMATCH') return { key: keyOfMessage(error) ?? key, problem: 'digest-mismatch', detail: error.message, tags };
  if (['FORMAT', 'LEGACY_FORMAT', 'UPGRADE_REQUIRED', 'UNSAFE_REMOTE'].includes(error.code)) {
    return { key, problem: 'unreadable', detail: error.message, tags };
  }
  throw error;
}

/** The blob key a NOT_FOUND or DIGEST_MISMATCH error names (a config read after its manifest). */
function keyOfMessage(error: DogestryError): string | undefined {
  const key = (error as { key?: unknown }).key;
  if (typeof key === 'string') return key;
  return /blobs\/sha256\/[0-9a-f]{64}/.exec(error.message)?.[0];
}
