/** Listing a directory of an HTTP remote: WebDAV PROPFIND (Depth: 1) or nginx's JSON autoindex. */
import type { Dispatcher } from 'undici';

export type Listing = 'autoindex' | 'propfind' | 'none';

type Send = (method: string, url: URL, options?: { headers?: Record<string, string> }) => Promise<Dispatcher.ResponseData>;

/**
 * Which listing the server offers at `base`, by asking: reads only. A server that wants
 * credentials (401) is not one without a listing: `refuse` turns its answer into the error.
 */
export async function detectListing(
  send: Send,
  base: URL,
  refuse: (response: Dispatcher.ResponseData, what: string) => Promise<never>,
): Promise<Listing> {
  const propfind = await send('PROPFIND', base, { headers: { depth: '1' } });
  if (propfind.statusCode === 401) return refuse(propfind, 'PROPFIND');
  const text = await propfind.body.text();
  if (propfind.statusCode === 207 && text.includes('multistatus')) return 'propfind';
  const get = await send('GET', base, { headers: { accept: 'application/json' } });
  if (get.statusCode === 401) return refuse(get, 'GET');
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

/** Names of the direct children in a WebDAV multistatus answer. */
export function parsePropfind(xml: string, selfPath: string): { name: string; directory: boolean }[] {
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

/** Entries of nginx's `autoindex_format json`. */
export function parseAutoindex(text: string): { name: string; directory: boolean }[] {
  const entries = JSON.parse(text) as { name: string; type: string }[];
  return entries.map((e) => ({ name: e.name, directory: e.type === 'directory' }));
}
