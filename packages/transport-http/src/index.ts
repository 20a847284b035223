/**
 * Any HTTP(S) server as a dogestry remote.
 *
 * Reads: HEAD for stat, GET for read (resumed with `Range` after a dropped connection),
 * 404 = absent. Writes where the server takes them: PUT (streamed), DELETE, MOVE, with
 * capabilities found out only when a write is about to happen (`prepare('write')`: a probe
 * PUT + DELETE under `tmp/`), never assumed, so a pull, `images` or `verify` sends no
 * request that modifies the server. Create-only writes:
 * - where the server allows MOVE (WebDAV), PUT to `tmp/<uuid>` then `MOVE` with
 *   `Overwrite: F` (its `Destination` an absolute URL, which Apache's mod_dav requires): the
 *   key appears whole or not at all, and a failed upload never touches it. The server checks
 *   the key and renames in two steps, though (Apache's threads can both pass the check), so
 *   `capabilities.createOnly` is not claimed: immutable keys are content-addressed, and two
 *   racing writers write the same bytes;
 * - elsewhere, `If-None-Match: *` is sent (servers that honour it answer 412) and the key is
 *   checked with HEAD first. nginx's dav module ignores `If-None-Match` on PUT, so on it two
 *   racing writers may both write; immutable keys are content-addressed, so both write the
 *   same bytes. nginx stores a PUT body in a temporary file and renames it when complete, so
 *   a dropped upload leaves nothing at the key.
 * Listing: WebDAV `PROPFIND Depth: 1`, or nginx's `autoindex_format json`; otherwise
 * `capabilities.list` is false.
 */
import { InvalidReferenceError, type RemoteOptions } from '@dogestry/core/transport';
import { HttpRemote } from './http-remote.js';
import { openTicketUrl } from './ticket.js';

export { HttpRemote, type HttpRemoteOptions } from './http-remote.js';
export { createTicketRemote } from './ticket.js';

/**
 * `http(s)://[user:pass@]host/path/`. Credentials come from the URL's user info, else
 * `DOGESTRY_HTTP_TOKEN`, else what `dogestry login` stored for this remote, else the settings
 * `username`/`password` or `token` (`[remote "NAME"]` or `[http]` in dogestry.cfg). They go into
 * the Authorization header only; `url` has none.
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
  const login = options.credentials ?? {};
  // The first source that has credentials gives them all (a user from one and a token from another never mix).
  const source = [
    { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) },
    { token: env.DOGESTRY_HTTP_TOKEN },
    login,
    settings,
  ].find((s) => s.username || s.token) as { username?: string; password?: string; token?: string } | undefined;
  const { username, password, token } = source ?? {};
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
