import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * One of this package's Node-API modules, `native/NAME.linux-x64.node` (built from C by
 * scripts/build-native.sh and committed), loaded; null where there is none for this platform or
 * it does not load (another libc, a node that lacks a symbol it needs, a bundle that left the
 * file out). Its users then do the work another way, as on other platforms: only speed differs.
 */
export function nativeModule<T>(name: string): T | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  // By file path, not the URL's pathname: an install path may hold a space or a '#'.
  const path = fileURLToPath(new URL(`../native/${name}.linux-x64.node`, import.meta.url));
  try {
    return createRequire(import.meta.url)(path) as T;
  } catch {
    return null;
  }
}
