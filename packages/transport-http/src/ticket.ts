import { InvalidReferenceError, isPullTicket, type PullTicket } from '@dogestry/core/transport';
import { HttpRemote } from './http-remote.js';

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
export async function openTicketUrl(url: URL): Promise<HttpRemote> {
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
