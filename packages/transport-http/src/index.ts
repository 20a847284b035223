/**
 * Any HTTP(S) server as a dogestry remote.
 *
 * Reads: HEAD for stat, GET for read (resumed with `Range` after a dropped connection),
 * 404 = absent. Writes where the server takes them: PUT (streamed), DELETE, MOVE, with
 * capabilities found out only when a write is about to happen (`prepare('write')`: a probe
 * PUT + DELETE under `tmp/`), never assumed, so a pull, `images` or `verify` sends no
 * request that modifies the server. Create-only writes:
 * - where the server allows MOVE (WebDAV), PUT to `tmp/<uuid>` then `MOVE` with
 *   `Overwrite: F`: atomic, and a failed upload never touches the final key;
 * - elsewhere, `If-None-Match: *` is sent (servers that honour it answer 412) and the key is
 *   checked with HEAD first. nginx's dav module ignores `If-None-Match` on PUT, so on it two
 *   racing writers may both write; immutable keys are content-addressed, so both write the
 *   same bytes. nginx stores a PUT body in a temporary file and renames it when complete, so
 *   a dropped upload leaves nothing at the key.
 * Listing: WebDAV `PROPFIND Depth: 1`, or nginx's `autoindex_format json`; otherwise
 * `capabilities.list` is false.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AuthError,
  assertSafeKey,
  DogestryError,
  ExpiredError,
  InvalidReferenceError,
  isPullTicket,
  type PullTicket,
  ReadOnlyError,
  type Remote,
  type RemoteCapabilities,
  type RemoteOptions,
  resumingRead,
  type StatResult,
  TransportError,
  type WriteOptions,
} from '@dogestry/core/transport';
import { Agent, type Dispatcher, request } from 'undici';

export interface HttpRemoteOptions {
  /** Base URL ending in `/`, without credentials. */
  readonly base: URL;
  /** Value of the Authorization header, if any. */
  readonly authorization?: string;
  /** Skip detection and use these (tests, tickets). */
  readonly capabilities?: RemoteCapabilities;
  readonly dispatcher?: Dispatcher;
  /** Read through a pull ticket: only these keys exist, each at its presigned URL. */
  readonly ticket?: PullTicket;
}

type Listing = 'autoindex' | 'propfind' | 'none';
const RETRIES = 3;

export class HttpRemote implements Remote {
  readonly url: string;
  capabilities: RemoteCapabilities = { write: false, list: false, createOnly: false };
  private listing: Listing = 'none';
  private canMove = false;
  private needsMkcol = false;
  private readonly collections = new Set<string>();
  private readonly base: URL;
  private readonly authorization: string | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly ticket: PullTicket | undefined;
  /** Detection, once each, when first needed; settled at once where capabilities were given. */
  private writeProbe: Promise<void> | undefined;
  private listProbe: Promise<void> | undefined;

  constructor(options: HttpRemoteOptions) {
    this.base = options.base;
    this.ticket = options.ticket;
    this.url = options.ticket ? `ticket for ${options.ticket.image} on ${options.ticket.remote}` : options.base.href;
    this.authorization = options.authorization;
    this.dispatcher = options.dispatcher ?? new Agent({ connections: 16, keepAliveTimeout: 10_000 });
    if (options.capabilities) {
      this.capabilities = options.capabilities;
      this.writeProbe = this.listProbe = Promise.resolve();
    }
  }

  /** Find out whether the server takes writes ('write': probe requests under tmp/) or offers a listing ('list': reads only). */
  prepare(need: 'write' | 'list'): Promise<void> {
    if (need === 'write') {
      this.writeProbe ??= this.detectWrite();
      return this.writeProbe;
    }
    this.listProbe ??= this.detectListingOnce();
    return this.listProbe;
  }

  private keyUrl(key: string): URL {
    assertSafeKey(key);
    return new URL(key.split('/').map(encodeURIComponent).join('/'), this.base);
  }

  /** Where to read `key`: under the base URL, or (through a ticket) its presigned URL, if it has one. */
  private readUrl(key: string): URL | undefined {
    if (!this.ticket) return this.keyUrl(key);
    assertSafeKey(key);
    if (Date.parse(this.ticket.expires) <= Date.now()) throw this.expired();
    const url = this.ticket.objects[key];
    return url ? new URL(url) : undefined;
  }

  private expired(): ExpiredError {
    return new ExpiredError(
      `the pull ticket for ${this.ticket?.image} expired at ${this.ticket?.expires}: ask for a new one with \`dogestry presign\``,
    );
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.authorization ? { authorization: this.authorization, ...extra } : extra;
  }

  /** One request, with retries on network errors and 5xx for bodies that can be resent. */
  private async send(
    method: string,
    url: URL,
    options: { headers?: Record<string, string>; body?: Readable | Buffer | string; retry?: boolean } = {},
  ): Promise<Dispatcher.ResponseData> {
    const retry = options.retry ?? !(options.body instanceof Readable);
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await request(url, {
          method: method as Dispatcher.HttpMethod,
          headers: this.headers(options.headers),
          body: options.body ?? null,
          dispatcher: this.dispatcher,
        });
        // Errors reach readers through iteration; this keeps a late second error (undici can
        // report a short body after the iterator let go) from crashing the process.
        response.body.on('error', () => {});
        if (response.statusCode >= 500 && retry && attempt < RETRIES) {
          await response.body.dump();
          await sleep(100 * 2 ** attempt);
          continue;
        }
        return response;
      } catch (error) {
        if (error instanceof DogestryError) throw error;
        if (retry && attempt < RETRIES) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw new TransportError(`${method} ${this.describe(url)} failed: ${(error as Error).message}`, { cause: error, retryable: true });
      }
    }
  }

  /** A URL for messages: never with credentials or query strings (which may hold signatures). */
  private describe(url: URL): string {
    return `${url.origin}${url.pathname}`;
  }

  private unauthorized(where: string): AuthError {
    return new AuthError(
      `${where}: 401 Unauthorized: ${this.authorization ? 'the credentials were refused' : 'credentials are needed'}; set them in the URL (http://user:pass@…) or in [remote "NAME"] username/password or token in dogestry.cfg`,
    );
  }

  private async fail(response: Dispatcher.ResponseData, what: string, url: URL): Promise<never> {
    const status = response.statusCode;
    if (status !== 403) await response.body.dump();
    const where = this.describe(url);
    if (status === 401) throw this.unauthorized(`${what} ${where}`);
    if (status === 403) {
      const text = await response.body.text().catch(() => '');
      const expiry = expiryOf(url);
      // Servers word this differently (AWS says "Request has expired", radosgw only AccessDenied): the URL itself says when it ends.
      if (/expired/i.test(text) || (expiry && expiry.getTime() <= Date.now())) {
        if (this.ticket) throw this.expired();
        throw new ExpiredError(
          `${what} ${where}: the presigned URL expired${expiry ? ` at ${expiry.toISOString()}` : ''}: ask for a new one`,
        );
      }
      throw new AuthError(
        this.ticket || url.searchParams.has('X-Amz-Signature')
          ? `${what} ${where}: 403 Forbidden: the presigned URL was refused (altered, or signed with revoked credentials)`
          : `${what} ${where}: 403 Forbidden: these credentials may not do this`,
      );
    }
    if (status === 405 || status === 501)
      throw new ReadOnlyError(`${what} ${where}: the server does not allow it (${status}); this remote is read-only`);
    throw new TransportError(`${what} ${where}: HTTP ${status}`, { retryable: status >= 500 || status === 429 });
  }

  async stat(key: string): Promise<StatResult | undefined> {
    const url = this.readUrl(key);
    if (!url) return undefined;
    // A presigned URL is signed for GET only: ask for one byte instead of HEAD.
    const response = this.ticket ? await this.send('GET', url, { headers: { range: 'bytes=0-0' } }) : await this.send('HEAD', url);
    if (response.statusCode === 404 || response.statusCode === 410) {
      await response.body.dump();
      return undefined;
    }
    if (response.statusCode >= 300) return this.fail(response, 'HEAD', url);
    await response.body.dump();
    const range = /\/(\d+)$/.exec(header(response, 'content-range') ?? '');
    const size = range ? Number(range[1]) : Number(response.headers['content-length'] ?? Number.NaN);
    const lastModified = header(response, 'last-modified');
    return { size: Number.isFinite(size) ? size : 0, ...(lastModified ? { modified: new Date(lastModified) } : {}) };
  }

  async read(key: string, opts: { offset?: number } = {}): Promise<Readable | undefined> {
    const url = this.readUrl(key);
    if (!url) return undefined;
    const bodyOf = (response: Dispatcher.ResponseData, offset: number): AsyncIterable<Buffer> => {
      if (response.statusCode === 416) return Readable.from([]);
      // A server that ignores Range (python's http.server) sends it all again: skip what we have.
      if (offset > 0 && response.statusCode === 200) return skipBytes(response.body as AsyncIterable<Buffer>, offset);
      return response.body as AsyncIterable<Buffer>;
    };
    const start = opts.offset ?? 0;
    const first = await this.get(url, start);
    if (!first) return undefined;
    return Readable.from(
      resumingRead(
        bodyOf(first, start),
        start,
        async (offset) => {
          const response = await this.get(url, offset);
          return response && bodyOf(response, offset);
        },
        (error, offset) =>
          error instanceof DogestryError
            ? error
            : new TransportError(`GET ${this.describe(url)} kept failing after ${offset} bytes: ${(error as Error).message}`, {
                cause: error,
                retryable: true,
              }),
      ),
    );
  }

  private async get(url: URL, offset: number): Promise<Dispatcher.ResponseData | undefined> {
    const response = await this.send('GET', url, offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {});
    if (response.statusCode === 404 || response.statusCode === 410) {
      await response.body.dump();
      return undefined;
    }
    if (response.statusCode === 416) {
      // Asked for bytes past the end: the object is exactly `offset` long.
      await response.body.dump();
      return response;
    }
    if (response.statusCode >= 300) return this.fail(response, 'GET', url);
    return response;
  }

  async write(key: string, body: Readable, opts: WriteOptions = {}): Promise<'written' | 'exists'> {
    assertSafeKey(key);
    await this.prepare('write').catch((error: Error) => {
      body.destroy();
      throw error;
    });
    if (!this.capabilities.write) {
      body.destroy();
      throw new ReadOnlyError(`${this.url} is read-only (the server refused a test PUT when it was opened)`);
    }
    try {
      if (opts.createOnly && this.canMove) {
        const tmp = `tmp/${randomUUID()}`;
        await this.put(tmp, body, opts.size);
        return await this.moveKey(tmp, key, { createOnly: true });
      }
      if (opts.createOnly && (await this.stat(key))) {
        for await (const _ of body) {
          // the contract: a write consumes its body
        }
        return 'exists';
      }
      if (!opts.createOnly && this.canMove) {
        const tmp = `tmp/${randomUUID()}`;
        await this.put(tmp, body, opts.size);
        return await this.moveKey(tmp, key, { createOnly: false });
      }
      const status = await this.put(key, body, opts.size, opts.createOnly ? { 'if-none-match': '*' } : {});
      return status === 412 ? 'exists' : 'written';
    } catch (error) {
      body.destroy();
      throw error;
    }
  }

  private async put(key: string, body: Readable, size: number | undefined, extra: Record<string, string> = {}): Promise<number> {
    const url = this.keyUrl(key);
    if (this.needsMkcol) await this.mkcolParents(key);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...extra };
    if (size !== undefined) headers['content-length'] = String(size);
    let failure: Error | undefined;
    body.once('error', (error) => (failure = error));
    let response: Dispatcher.ResponseData;
    try {
      response = await this.send('PUT', url, { headers, body, retry: false });
    } catch (error) {
      throw failure ?? error;
    }
    if (failure) {
      await response.body.dump();
      throw failure;
    }
    if (response.statusCode === 412) {
      await response.body.dump();
      return 412;
    }
    if (response.statusCode >= 300) return this.fail(response, 'PUT', url);
    await response.body.dump();
    return response.statusCode;
  }

  private async mkcolParents(key: string): Promise<void> {
    const parts = key.split('/').slice(0, -1);
    for (let i = 0; i <= parts.length; i++) {
      const dir = i === 0 ? '' : `${parts.slice(0, i).join('/')}/`;
      if (this.collections.has(dir)) continue;
      await this.mkcol(new URL(dir.split('/').map(encodeURIComponent).join('/'), this.base));
      this.collections.add(dir);
    }
  }

  /**
   * Make one collection. The remote's own directory too: a WebDAV server without nginx's
   * create_full_put_path (Apache mod_dav) answers 409 until every parent exists, so a 409 here
   * makes the parent first, up to the server's root.
   */
  private async mkcol(url: URL, depth = 0): Promise<void> {
    const response = await this.send('MKCOL', url);
    await response.body.dump();
    if (response.statusCode === 409 && depth < 32 && url.pathname !== '/') {
      await this.mkcol(new URL('..', url), depth + 1);
      return this.mkcol(url, depth + 1);
    }
    // 201 created; 405 (Apache, nginx) or 301 (a directory without its slash): it is there.
    if (response.statusCode !== 201 && response.statusCode !== 405 && response.statusCode !== 301) {
      throw new TransportError(`MKCOL ${this.describe(url)}: HTTP ${response.statusCode}`);
    }
  }

  /** Present only where the server allows MOVE (found by `detect`). */
  move?: (from: string, to: string, opts?: { createOnly?: boolean }) => Promise<'written' | 'exists'>;

  private async moveKey(from: string, to: string, opts: { createOnly?: boolean } = {}): Promise<'written' | 'exists'> {
    const source = this.keyUrl(from);
    const target = this.keyUrl(to);
    if (this.needsMkcol) await this.mkcolParents(to);
    const response = await this.send('MOVE', source, {
      headers: { destination: target.pathname, overwrite: opts.createOnly ? 'F' : 'T' },
    });
    if (response.statusCode === 412) {
      await response.body.dump();
      await this.delete([from]);
      return 'exists';
    }
    if (response.statusCode >= 300) return this.fail(response, 'MOVE', source);
    await response.body.dump();
    return 'written';
  }

  async *list(prefix: string): AsyncIterable<string> {
    await this.prepare('list');
    if (this.listing === 'none') throw new ReadOnlyError(`${this.url} offers no listing (neither WebDAV PROPFIND nor a JSON autoindex)`);
    const slash = prefix.lastIndexOf('/');
    yield* this.walk(slash >= 0 ? prefix.slice(0, slash + 1) : '', prefix);
  }

  private async *walk(dir: string, prefix: string): AsyncIterable<string> {
    for (const entry of await this.listDirectory(dir)) {
      const key = `${dir}${entry.name}`;
      if (entry.directory) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(`${key}/`, prefix);
      } else if (key.startsWith(prefix) && !key.startsWith('tmp/')) yield key;
    }
  }

  private async listDirectory(dir: string): Promise<{ name: string; directory: boolean }[]> {
    if (dir) assertSafeKey(dir.slice(0, -1));
    const url = new URL(dir.split('/').map(encodeURIComponent).join('/'), this.base);
    const response =
      this.listing === 'propfind'
        ? await this.send('PROPFIND', url, { headers: { depth: '1' } })
        : await this.send('GET', url, { headers: { accept: 'application/json' } });
    if (response.statusCode === 404) {
      await response.body.dump();
      return [];
    }
    if (response.statusCode >= 300) return this.fail(response, 'list', url);
    const text = await response.body.text();
    if (this.listing === 'autoindex') {
      const entries = JSON.parse(text) as { name: string; type: string }[];
      return entries.map((e) => ({ name: e.name, directory: e.type === 'directory' }));
    }
    return parsePropfind(text, url.pathname);
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.prepare('write');
    if (!this.capabilities.write) throw new ReadOnlyError(`${this.url} is read-only`);
    for (const key of keys) {
      const url = this.keyUrl(key);
      const response = await this.send('DELETE', url);
      if (response.statusCode === 404 || response.statusCode < 300) await response.body.dump();
      else await this.fail(response, 'DELETE', url);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** GET a small document at an absolute URL, with this remote's error handling. */
  async fetchDocument(url: URL): Promise<string> {
    const response = await this.send('GET', url);
    if (response.statusCode >= 300) return this.fail(response, 'GET', url);
    return response.body.text();
  }

  /**
   * Find out whether the server takes writes: a zero-byte PUT and DELETE under tmp/ (and
   * whether parents need MKCOL), and a MOVE of it (atomic create-only).
   */
  private async detectWrite(): Promise<void> {
    const probe = `tmp/probe-${randomUUID()}`;
    let write = false;
    let status = await this.probePut(probe);
    if (status === 409) {
      this.needsMkcol = true;
      await this.mkcolParents(probe).catch(() => {});
      status = await this.probePut(probe);
    }
    if (status === 401) throw this.unauthorized(this.url);
    if (status >= 200 && status < 300) {
      write = true;
      const moved = `tmp/probe-${randomUUID()}`;
      const move = await this.send('MOVE', this.keyUrl(probe), { headers: { destination: this.keyUrl(moved).pathname, overwrite: 'F' } });
      await move.body.dump();
      this.canMove = move.statusCode >= 200 && move.statusCode < 300;
      if (this.canMove) this.move = (from, to, opts) => this.moveKey(from, to, opts);
      const leftover = this.canMove ? moved : probe;
      await (await this.send('DELETE', this.keyUrl(leftover))).body.dump();
    }
    this.capabilities = { ...this.capabilities, write, createOnly: write && this.canMove };
  }

  private async detectListingOnce(): Promise<void> {
    this.listing = await this.detectListing();
    this.capabilities = { ...this.capabilities, list: this.listing !== 'none' };
  }

  private async probePut(key: string): Promise<number> {
    const response = await this.send('PUT', this.keyUrl(key), { body: Buffer.alloc(0), headers: { 'content-length': '0' } });
    await response.body.dump();
    return response.statusCode;
  }

  private async detectListing(): Promise<Listing> {
    const propfind = await this.send('PROPFIND', this.base, { headers: { depth: '1' } });
    const text = await propfind.body.text();
    if (propfind.statusCode === 207 && text.includes('multistatus')) return 'propfind';
    const get = await this.send('GET', this.base, { headers: { accept: 'application/json' } });
    const body = await get.body.text();
    if (get.statusCode === 200 && body.trimStart().startsWith('[')) {
      try {
        JSON.parse(body);
        return 'autoindex';
      } catch {
        return 'none';
      }
    }
    return 'none';
  }
}

/** When a SigV4 presigned URL stops working, from its X-Amz-Date and X-Amz-Expires. */
function expiryOf(url: URL): Date | undefined {
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(url.searchParams.get('X-Amz-Date') ?? '');
  const seconds = Number(url.searchParams.get('X-Amz-Expires'));
  if (!date || !url.searchParams.has('X-Amz-Expires') || !Number.isFinite(seconds)) return undefined;
  const start = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
  return new Date(start + seconds * 1000);
}

/** Names of the direct children in a WebDAV multistatus answer. */
function parsePropfind(xml: string, selfPath: string): { name: string; directory: boolean }[] {
  const out: { name: string; directory: boolean }[] = [];
  for (const response of xml.split(/<(?:[A-Za-z0-9]+:)?response[\s>]/).slice(1)) {
    const href = /<(?:[A-Za-z0-9]+:)?href>([^<]+)</.exec(response)?.[1];
    if (!href) continue;
    const path = decodeURIComponent(new URL(href, 'http://x').pathname);
    const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
    if (trimmed === decodeURIComponent(selfPath).replace(/\/$/, '')) continue;
    out.push({ name: trimmed.slice(trimmed.lastIndexOf('/') + 1), directory: /<(?:[A-Za-z0-9]+:)?collection\s*\/>/.test(response) });
  }
  return out;
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The bytes of `body` after its first `count`. */
async function* skipBytes(body: AsyncIterable<Buffer>, count: number): AsyncGenerator<Buffer> {
  let left = count;
  for await (const chunk of body) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `http(s)://[user:pass@]host/path/`. Credentials come from the URL's user info, else the
 * settings `username`/`password` or `token` (`[remote "NAME"]` or `[http]` in dogestry.cfg),
 * else `DOGESTRY_HTTP_TOKEN`. They go into the Authorization header only; `url` has none.
 */
export async function createRemote(location: string, options: RemoteOptions = {}): Promise<HttpRemote> {
  // Nothing is sent here: capabilities are found out when first needed (see `prepare`).
  let parsed: URL;
  try {
    parsed = new URL(location);
  } catch (cause) {
    throw new InvalidReferenceError(`invalid HTTP URL ${JSON.stringify(location.replace(/\/\/[^@/]*@/, '//…@'))}`, { cause });
  }
  const settings = options.settings ?? {};
  const env = options.env ?? process.env;
  const username = decodeURIComponent(parsed.username) || settings.username;
  const password = decodeURIComponent(parsed.password) || settings.password;
  const token = settings.token ?? env.DOGESTRY_HTTP_TOKEN;
  parsed.username = '';
  parsed.password = '';
  if (parsed.searchParams.has('X-Amz-Signature')) return openTicketUrl(parsed);
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  const authorization = username
    ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`
    : token
      ? `Bearer ${token}`
      : undefined;
  return new HttpRemote({ base: parsed, ...(authorization ? { authorization } : {}) });
}

/** A read-only remote that reads through a pull ticket (see `presign` in core). */
export function createTicketRemote(ticket: PullTicket): HttpRemote {
  const first = Object.values(ticket.objects)[0];
  return new HttpRemote({
    base: new URL(first ?? 'http://ticket.invalid/'),
    ticket,
    capabilities: { write: false, list: false, createOnly: false },
  });
}

/** Fetch a ticket from its presigned URL (`dogestry presign` prints one). */
async function openTicketUrl(url: URL): Promise<HttpRemote> {
  const fetcher = new HttpRemote({ base: url, capabilities: { write: false, list: false, createOnly: false } });
  const body = await fetcher.fetchDocument(url);
  await fetcher.close();
  let ticket: unknown;
  try {
    ticket = JSON.parse(body);
  } catch {
    ticket = undefined;
  }
  if (!isPullTicket(ticket)) throw new InvalidReferenceError(`${url.origin}${url.pathname} is not a dogestry pull ticket`);
  return createTicketRemote(ticket);
}
