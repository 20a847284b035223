/**
 * Blob upload sessions of the distribution API (POST, PATCH, PUT, GET, DELETE on
 * `/v2/<name>/blobs/uploads/<id>`). A session lives in this process's memory; its bytes go
 * straight to the remote as parts under the server's lease (`tmp/<lease>/<id>/<n>`), hashed as
 * they pass, so nothing is held in memory and a killed client leaves only `tmp/` keys that
 * the lease's expiry hands to gc. On completion the one part is moved to
 * `blobs/sha256/<hex>` (rename, server-side copy), or several are joined there.
 *
 * Stored form: a blob whose first bytes are one of the magic numbers readers decode by (a
 * gzip layer always is) is written in LZ4 frames of uncompressed blocks, so every reader
 * decodes it back to exactly the uploaded bytes (docs/FORMAT.md, feature `registry`).
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { detectEncoding, format, moveIntoPlace, rawFrame, SEGMENT } from '@dogestry/core/internal';
import type { Remote } from '@dogestry/core/transport';
import { RegistryError } from './errors.js';

/** A session no request touched for this long is dropped and its parts deleted. */
const IDLE_MS = 30 * 60 * 1000;

export class Upload {
  readonly id = randomUUID();
  /** Bytes received so far. */
  size = 0;
  touched = Date.now();
  busy = false;
  readonly parts: string[] = [];
  private readonly hash: Hash = createHash('sha256');
  /** The first bytes, held until there are 4 of them: they decide the stored form. */
  private head: Buffer[] = [];
  private wrap: boolean | undefined;

  constructor(
    readonly name: string,
    private readonly tmpPrefix: string,
  ) {}

  /** Append a request body as the next part (`last`: no more bytes follow). */
  async append(remote: Remote, body: AsyncIterable<Buffer> | Iterable<Buffer>, last = false): Promise<void> {
    const key = `${this.tmpPrefix}${this.id}/${this.parts.length}`;
    const staged = this.stage(body, last);
    this.parts.push(key);
    await remote.write(key, Readable.from(staged));
  }

  /** The digest of every byte received, once the held first bytes are written too. */
  async finish(remote: Remote): Promise<string> {
    if (this.head.length > 0) await this.append(remote, [], true);
    return this.hash.copy().digest('hex');
  }

  private async *stage(body: AsyncIterable<Buffer> | Iterable<Buffer>, last: boolean): AsyncGenerator<Buffer> {
    const chunks = (async function* (upload: Upload) {
      for await (const chunk of body) {
        upload.hash.update(chunk);
        upload.size += chunk.length;
        upload.touched = Date.now();
        yield chunk;
      }
    })(this);
    // Wrapped bytes go out as frames of about 1 MiB (the chunks themselves, not copied): few
    // frames for readers to walk. Unwrapped bytes go out as they come.
    let frame: Buffer[] = [];
    let framed = 0;
    const flush = () => {
      const out = framed > 0 ? rawFrame(frame) : [];
      frame = [];
      framed = 0;
      return out;
    };
    const out = (bytes: Buffer): Buffer[] => {
      if (!this.wrap) return [bytes];
      frame.push(bytes);
      framed += bytes.length;
      return framed >= SEGMENT ? flush() : []; // frames of about the size push's are
    };
    for await (const chunk of chunks) {
      if (this.wrap !== undefined) {
        yield* out(chunk);
        continue;
      }
      this.head.push(chunk);
      const held = Buffer.concat(this.head);
      if (held.length < 4) continue;
      this.head = [];
      this.wrap = detectEncoding(held) !== 'none';
      yield* out(held);
    }
    // The upload's last part, with fewer than 4 bytes in all: decided on what there is.
    if (last && this.wrap === undefined && this.head.length > 0) {
      const held = Buffer.concat(this.head);
      this.head = [];
      this.wrap = detectEncoding(held) !== 'none';
      yield* out(held);
    }
    yield* flush();
  }
}

/** The sessions of one server, and the remote keys they write. */
export class Uploads {
  private readonly sessions = new Map<string, Upload>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly remote: Remote,
    private readonly tmpPrefix: () => Promise<string>,
  ) {
    this.timer = setInterval(() => void this.expire(), 60_000);
    this.timer.unref();
  }

  async open(name: string): Promise<Upload> {
    const upload = new Upload(name, await this.tmpPrefix());
    this.sessions.set(upload.id, upload);
    return upload;
  }

  /** The session `id` of repository `name`, or BLOB_UPLOAD_UNKNOWN. */
  get(name: string, id: string): Upload {
    const upload = this.sessions.get(id);
    if (!upload || upload.name !== name) {
      throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `upload ${id} is not in progress in repository ${name}`);
    }
    upload.touched = Date.now();
    return upload;
  }

  /** End a session, deleting its parts. */
  async drop(upload: Upload): Promise<void> {
    this.sessions.delete(upload.id);
    if (upload.parts.length > 0) await this.remote.delete(upload.parts).catch(() => {});
  }

  /**
   * Complete a session as the blob `hex`: its parts become `blobs/sha256/<hex>` (kept as it is
   * where that blob is already stored), and the session ends either way.
   */
  async complete(upload: Upload, hex: string): Promise<void> {
    this.sessions.delete(upload.id);
    const target = format.blobKey(hex);
    try {
      if (await this.remote.stat(target)) return;
      if (upload.parts.length === 1) {
        await moveIntoPlace(this.remote, upload.parts[0] as string, target);
        upload.parts.length = 0;
        return;
      }
      const remote = this.remote;
      const joined = (async function* () {
        for (const part of upload.parts) {
          const body = await remote.read(part);
          if (!body) throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `a part of upload ${upload.id} vanished: start it again`);
          yield* body as AsyncIterable<Buffer>;
        }
      })();
      await remote.write(target, Readable.from(joined), { createOnly: true });
    } finally {
      if (upload.parts.length > 0) await this.remote.delete(upload.parts).catch(() => {});
    }
  }

  private async expire(): Promise<void> {
    const now = Date.now();
    for (const upload of [...this.sessions.values()]) {
      if (!upload.busy && now - upload.touched > IDLE_MS) await this.drop(upload);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.sessions.values()].map((upload) => this.drop(upload)));
  }
}
