import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidReferenceError, UnknownTransportError } from './errors.js';
import { MemoryRemote } from './memory-remote.js';
import type { Remote, RemoteFactory, RemoteOptions } from './remote.js';

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

/** Open the remote a URL (or path) names, loading its transport package on demand. */
export async function openRemote(location: string, options: RemoteOptions = {}): Promise<Remote> {
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
  let module: { createRemote?: RemoteFactory };
  try {
    module = (await import(packageName)) as { createRemote?: RemoteFactory };
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((cause as Error).message).includes(packageName)) {
      throw new UnknownTransportError(`${scheme}// remotes need the ${packageName} package: npm install ${packageName}`, { cause });
    }
    throw cause;
  }
  if (typeof module.createRemote !== 'function') throw new UnknownTransportError(`${packageName} does not export createRemote`);
  return module.createRemote(url, options);
}
