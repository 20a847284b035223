import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AbortedError, InvalidReferenceError, UnknownTransportError } from './errors.js';
import { MemoryRemote } from './memory-remote.js';
import type { Remote, RemoteFactory, RemoteOptions } from './remote.js';
import { isPullTicket, type PullTicket } from './ticket.js';

/** URL scheme -> the package that implements it. Loaded lazily, so users install only what they use. */
export const TRANSPORT_PACKAGES: Readonly<Record<string, string>> = {
  'file:': '@dogestry/transport-local',
  's3:': '@dogestry/transport-s3',
  'http:': '@dogestry/transport-http',
  'https:': '@dogestry/transport-http',
};

const memoryRemotes = new Map<string, MemoryRemote>();

/**
 * Turn what a user typed into a canonical URL: absolute and relative paths become file://
 * URLs; anything with a scheme is kept.
 */
export function normalizeRemoteUrl(location: string): string {
  if (location.length === 0)
    throw new InvalidReferenceError('empty remote: give a path, a file://, s3:// or http(s):// URL, or an alias from dogestry.cfg');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(location)) return location;
  if (isAbsolute(location) || location.startsWith('.') || location.includes('/')) return pathToFileURL(resolve(location)).href;
  throw new InvalidReferenceError(
    `${JSON.stringify(location)} is neither a remote alias nor a URL: use ./${location} for a directory here, or \`dogestry remote add ${location} URL\``,
  );
}

/** A read-only remote that reads through a pull ticket (what `presign` makes), by its transport package. */
export async function openTicket(ticket: PullTicket): Promise<Remote> {
  return (await loadTransport('https:', '@dogestry/transport-http')).createTicketRemote?.(ticket) as Remote;
}

/** Open the remote a URL (or path) names, loading its transport package on demand. A path to a pull-ticket file opens the ticket. */
export async function openRemote(location: string, options: RemoteOptions = {}): Promise<Remote> {
  const ticket = await readTicketFile(location);
  if (ticket) return openTicket(ticket);
  const url = normalizeRemoteUrl(location);
  const scheme = `${url.slice(0, url.indexOf(':'))}:`.toLowerCase();
  if (scheme === 'memory:') {
    const name = url.slice('memory://'.length) || 'default';
    let remote = memoryRemotes.get(name);
    if (!remote) memoryRemotes.set(name, (remote = new MemoryRemote({ name })));
    return remote;
  }
  const packageName = TRANSPORT_PACKAGES[scheme];
  if (!packageName) {
    throw new UnknownTransportError(`no transport handles ${scheme}// URLs: use a path, file://, s3://, http:// or https://`);
  }
  const module = await loadTransport(scheme, packageName);
  if (typeof module.createRemote !== 'function') throw new UnknownTransportError(`${packageName} does not export createRemote`);
  return module.createRemote(url, options);
}

interface TransportModule {
  createRemote?: RemoteFactory;
  createTicketRemote?: (ticket: PullTicket) => Remote;
}

async function loadTransport(scheme: string, packageName: string): Promise<TransportModule> {
  try {
    return (await import(packageName)) as TransportModule;
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((cause as Error).message).includes(packageName)) {
      throw new UnknownTransportError(`${scheme}// remotes need the ${packageName} package: npm install ${packageName}`, { cause });
    }
    throw cause;
  }
}

/** A local file (not a directory) holding a pull ticket, or undefined. */
async function readTicketFile(location: string): Promise<PullTicket | undefined> {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(location) && !location.startsWith('file://')) return undefined;
  let path = location;
  if (location.startsWith('file://')) {
    try {
      path = fileURLToPath(location);
    } catch (cause) {
      throw new InvalidReferenceError(
        `${location} is not a local file URL (file:///path, or file://localhost/path): a directory remote must be on this machine`,
        { cause },
      );
    }
  }
  let text: string;
  try {
    if (!(await stat(path)).isFile()) return undefined;
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidReferenceError(`${location} is a file, not a repository directory, and not a JSON pull ticket`);
  }
  if (!isPullTicket(value)) throw new InvalidReferenceError(`${location} is a file, not a repository directory, and not a pull ticket`);
  return value;
}

/** A remote given as a URL/path (opened here) or as an already open Remote. */
export interface RemoteSelection {
  readonly remote: string | Remote;
  readonly remoteOptions?: RemoteOptions;
  /** Cancels the operation: it stops as soon as it can and rejects with `AbortedError` (ABORTED), publishing nothing more. */
  readonly signal?: AbortSignal;
}

/** Throw `AbortedError` if `signal` was aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedBy(signal);
}

export function abortedBy(signal: AbortSignal): AbortedError {
  return signal.reason instanceof AbortedError
    ? signal.reason
    : new AbortedError('cancelled by the caller; nothing more was published', { cause: signal.reason });
}

export async function remoteOf(selection: RemoteSelection): Promise<Remote> {
  return typeof selection.remote === 'string' ? openRemote(selection.remote, selection.remoteOptions ?? {}) : selection.remote;
}

/**
 * The selected remote, for `await using`: a remote core opened from a URL is closed when the
 * operation ends (its connections and SDK clients go); one the caller passed in stays open.
 */
export async function useRemote(selection: RemoteSelection): Promise<{ readonly remote: Remote } & AsyncDisposable> {
  const remote = await remoteOf(selection);
  const opened = typeof selection.remote === 'string';
  return {
    remote,
    [Symbol.asyncDispose]: async () => {
      if (opened) await remote.close?.();
    },
  };
}
