/**
 * The HTTP remote itself: requests with retries, reads resumed with Range, writes (PUT, with
 * MOVE and MKCOL where the server has them) and capabilities probed when first needed. See
 * index.ts for the behaviour servers see.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AuthError,
  assertSafeKey,
  type DeleteOptions,
  DogestryError,
  ExpiredError,
  type PullTicket,
  ReadOnlyError,
  type Remote,
  type RemoteCapabilities,
  resumingBody,
  type StatResult,
  TransportError,
  type WriteOptions,
} from '@dogestry/core/transport';
import { Agent, type Dispatcher, request } from 'undici';
import { detectListing, type Listing, parseAutoindex, parsePropfind } from './listing.js';
import { expiryOf } from './presigned.js';

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

const RETRIES = 3;

export class HttpRemote implements Remote {
  readonly url: string;
  capabilities: RemoteCapabilities = { write: false, list: false, createOnly: false };
  private listing: Listing = 'none';
  private canMove = false;
  private needsMkcol = false;
  /**
   * Collections made, or being made, by this remote, by directory under the base: each is
   * asked for once however many writes need it at once. Apache answers 403 to all but one of
   * concurrent MKCOLs of a path ("File exists"), which failed pushes of several layers.
   */
  private readonly collections = new Map<string, Promise<void>>();
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
    options: { headers?: Record<string, string>; body?: Readable | Buffer | string; retry?: boolean; signal?: AbortSignal } = {},
  ): Promise<Dispatcher.ResponseData> {
    const retry = options.retry ?? !(options.body instanceof Readable);
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await request(url, {
          method: method as Dispatcher.HttpMethod,
          headers: this.headers(options.headers),
          body: options.body ?? null,
          dispatcher: this.dispatcher,
          ...(options.signal ? { signal: options.signal } : {}),
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
        if (retry && attempt < RETRIES && !options.signal?.aborted) {
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
    return resumingBody(
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
        await this.put(tmp, body, opts);
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
        await this.put(tmp, body, opts);
        return await this.moveKey(tmp, key, { createOnly: false });
      }
      const status = await this.put(key, body, opts, opts.createOnly ? { 'if-none-match': '*' } : {});
      return status === 412 ? 'exists' : 'written';
    } catch (error) {
      body.destroy();
      throw error;
    }
  }

  private async put(key: string, body: Readable, { size, signal }: WriteOptions, extra: Record<string, string> = {}): Promise<number> {
    const url = this.keyUrl(key);
    if (this.needsMkcol) await this.mkcolParents(key);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...extra };
    if (size !== undefined) headers['content-length'] = String(size);
    let failure: Error | undefined;
    body.once('error', (error) => (failure = error));
    let response: Dispatcher.ResponseData;
    try {
      response = await this.send('PUT', url, { headers, body, retry: false, ...(signal ? { signal } : {}) });
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
      let made = this.collections.get(dir);
      if (!made) {
        const making = this.mkcol(new URL(dir.split('/').map(encodeURIComponent).join('/'), this.base));
        // A failure is not kept: the next write asks again.
        making.catch(() => this.collections.get(dir) === making && this.collections.delete(dir));
        this.collections.set(dir, making);
        made = making;
      }
      await made;
    }
  }

  /**
   * Make one collection. The remote's own directory too: a WebDAV server without nginx's
   * create_full_put_path (Apache mod_dav) answers 409 until every parent exists, so a 409 here
   * makes the parent first, up to the server's root. Apache also answers 403 when another
   * client made the collection between its check and its mkdir (two pushers at once): asked
   * again, it says 405 (there) if that was all, 403 again if writing there is forbidden.
   */
  private async mkcol(url: URL, depth = 0, askedAgain = false): Promise<void> {
    const response = await this.send('MKCOL', url);
    await response.body.dump();
    if (response.statusCode === 409 && depth < 32 && url.pathname !== '/') {
      await this.mkcol(new URL('..', url), depth + 1);
      return this.mkcol(url, depth + 1);
    }
    if (response.statusCode === 403 && !askedAgain) return this.mkcol(url, depth, true);
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
      headers: { destination: target.href, overwrite: opts.createOnly ? 'F' : 'T' },
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
    return this.listing === 'autoindex' ? parseAutoindex(text) : parsePropfind(text, url.pathname);
  }

  async delete(keys: readonly string[], opts: DeleteOptions = {}): Promise<void> {
    await this.prepare('write');
    if (!this.capabilities.write) throw new ReadOnlyError(`${this.url} is read-only`);
    for (const key of keys) {
      const url = this.keyUrl(key);
      const response = await this.send('DELETE', url, opts.signal ? { signal: opts.signal } : {});
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
   * whether parents need MKCOL), and a MOVE of it (used for create-only writes; not atomic
   * under a race, see index.ts, so `createOnly` stays false).
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
      const move = await this.send('MOVE', this.keyUrl(probe), { headers: { destination: this.keyUrl(moved).href, overwrite: 'F' } });
      await move.body.dump();
      this.canMove = move.statusCode >= 200 && move.statusCode < 300;
      if (this.canMove) this.move = (from, to, opts) => this.moveKey(from, to, opts);
      const leftover = this.canMove ? moved : probe;
      await (await this.send('DELETE', this.keyUrl(leftover))).body.dump();
    }
    this.capabilities = { ...this.capabilities, write, createOnly: false };
  }

  private async detectListingOnce(): Promise<void> {
    this.listing = await detectListing(
      (method, url, options) => this.send(method, url, options),
      this.base,
      (response, what) => this.fail(response, what, this.base),
    );
    this.capabilities = { ...this.capabilities, list: this.listing !== 'none' };
  }

  private async probePut(key: string): Promise<number> {
    const response = await this.send('PUT', this.keyUrl(key), { body: Buffer.alloc(0), headers: { 'content-length': '0' } });
    await response.body.dump();
    return response.statusCode;
  }
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
