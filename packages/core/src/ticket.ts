import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { InvalidReferenceError, UnsupportedError } from './errors.js';
import { blobKey, imageKey, MARKER_KEY, parseManifest, readSmallBlob, requireRepository, tagKey } from './format.js';
import { formatNameTag, hexOf } from './reference.js';
import { resolveImage } from './resolve.js';
import { type RemoteSelection, throwIfAborted, useRemote } from './transports.js';

/**
 * A pull ticket: presigned GET URLs for exactly the keys that pulling one image needs. A
 * deploy host reads the image through it with no credentials, and can read nothing else.
 */
export interface PullTicket {
  readonly dogestryTicket: 1;
  /** Where the image lives (canonical, no credentials): for messages only. */
  readonly remote: string;
  readonly image: string;
  readonly imageId: string;
  /** ISO time after which the URLs stop working. */
  readonly expires: string;
  /** Remote key -> presigned URL. */
  readonly objects: Readonly<Record<string, string>>;
}

/** SigV4 presigned URLs are valid for at most 7 days. */
export const MAX_TICKET_SECONDS = 7 * 24 * 3600;
export const TICKETS_PREFIX = 'tickets/';

/** `0s`, `90s`, `15m`, `24h`, `7d` (or plain seconds) -> seconds. */
export function parseSeconds(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new InvalidReferenceError(`invalid duration ${JSON.stringify(text)}: use a number with s, m, h or d, like 24h`);
  const unit: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };
  return Number(match[1]) * (unit[match[2] ?? ''] ?? 1);
}

/** A ticket's lifetime: at least a second, within SigV4's 7-day limit. */
export function parseDuration(text: string): number {
  const seconds = parseSeconds(text);
  if (seconds < 1) throw new InvalidReferenceError('a ticket must last at least one second');
  if (seconds > MAX_TICKET_SECONDS) {
    throw new InvalidReferenceError(
      `${text} is longer than 7 days, the most an S3 (SigV4) presigned URL can last: use --expires 7d or less`,
    );
  }
  return seconds;
}

export function isPullTicket(value: unknown): value is PullTicket {
  const t = value as Partial<PullTicket>;
  return typeof t === 'object' && t !== null && t.dogestryTicket === 1 && typeof t.objects === 'object' && typeof t.expires === 'string';
}

export interface PresignOptions extends RemoteSelection {
  /** `name[:tag]` or an image-id prefix. */
  readonly image: string;
  readonly expiresIn: number;
  /** Store the ticket on the remote and return a presigned URL of it (default true). */
  readonly store?: boolean;
}

export interface PresignResult {
  readonly ticket: PullTicket;
  /** A presigned URL of the stored ticket (when stored). */
  readonly url?: string;
  /** Where the ticket was stored on the remote. */
  readonly key?: string;
}

/** Write a pull ticket for one image; see `PullTicket`. Needs a remote that can presign (S3). */
export async function presign(options: PresignOptions): Promise<PresignResult> {
  if (options.expiresIn > MAX_TICKET_SECONDS) parseDuration(`${options.expiresIn}s`);
  throwIfAborted(options.signal);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  const sign = remote.presign?.bind(remote);
  if (!sign) throw new UnsupportedError(`${remote.url} cannot presign URLs: tickets need an s3:// remote`);
  await requireRepository(remote);
  const resolved = await resolveImage(remote, options.image);
  const manifest = parseManifest(await readSmallBlob(remote, resolved.manifestHex), blobKey(resolved.manifestHex));
  const imageHex = hexOf(manifest.config.digest);
  const keys = new Set([MARKER_KEY, imageKey(imageHex), blobKey(resolved.manifestHex), blobKey(imageHex)]);
  if (resolved.nameTag) keys.add(tagKey(resolved.nameTag));
  for (const layer of manifest.layers) keys.add(blobKey(hexOf(layer.digest)));
  const expires = new Date(Date.now() + options.expiresIn * 1000).toISOString();
  const objects: Record<string, string> = {};
  for (const key of keys) objects[key] = await sign(key, options.expiresIn);
  const ticket: PullTicket = {
    dogestryTicket: 1,
    remote: remote.url,
    image: resolved.nameTag ? formatNameTag(resolved.nameTag) : `sha256:${imageHex}`,
    imageId: `sha256:${imageHex}`,
    expires,
    objects,
  };
  if (options.store === false) return { ticket };
  const key = `${TICKETS_PREFIX}${randomUUID()}.json`;
  const body = Buffer.from(`${JSON.stringify(ticket, null, 1)}\n`);
  await remote.write(key, Readable.from([body]), { createOnly: true, size: body.length });
  return { ticket, key, url: await sign(key, options.expiresIn) };
}
