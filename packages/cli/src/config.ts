import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '@dogestry/core/errors';
import { normalizeRemoteUrl } from '@dogestry/core/lib/transports';
import { IniDocument } from './ini-document.js';

/** dogestry.cfg: `[remote "NAME"] url = …`, `[s3]`, `[http]`, `[docker] connection = …`. */
export type ConfigData = Record<string, Record<string, string | undefined> | undefined>;

const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * A URL with its password (or token) masked, safe to print. The user part is everything
 * between `://` and the last `@` before the query, so a password holding `/` or `@` is masked
 * whole (a path holding `@` is masked too: too much rather than too little).
 */
export function maskCredentials(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  const query = url.search(/[?#]/);
  const head = query < 0 ? url : url.slice(0, query);
  const at = head.lastIndexOf('@');
  if (at < scheme) return url;
  const user = url.slice(scheme + 3, at);
  const colon = user.indexOf(':');
  return `${url.slice(0, scheme + 3)}${colon < 0 ? user : `${user.slice(0, colon)}:***`}${url.slice(at)}`;
}

export class DogestryConfig {
  private constructor(
    /** The file this config came from, or would be written to. */
    readonly path: string,
    readonly exists: boolean,
    private readonly document: IniDocument,
  ) {
    this.data = document.sections();
    this.checkAliases();
  }

  private data: ConfigData;

  /**
   * Find dogestry.cfg: `--config`, then `$DOGESTRY_CONFIG`, then `./dogestry.cfg`, then the
   * user config dir (`$XDG_CONFIG_HOME/dogestry/dogestry.cfg`, `~/.config/dogestry/dogestry.cfg`).
   * When none exists, the config is empty and writes go to `./dogestry.cfg`.
   */
  static load(explicit: string | undefined, options: { env?: NodeJS.ProcessEnv; cwd?: string; willCreate?: boolean } = {}): DogestryConfig {
    const env = options.env ?? process.env;
    const cwd = options.cwd ?? process.cwd();
    const named = explicit ?? env.DOGESTRY_CONFIG;
    if (named) {
      const path = resolve(cwd, named);
      if (existsSync(path)) return new DogestryConfig(path, true, parse(path));
      // A file named on purpose that is not there is a mistake, unless this command creates it.
      if (!options.willCreate) {
        throw new ConfigError(
          `${path} (from ${explicit ? '--config' : '$DOGESTRY_CONFIG'}) does not exist: create it with \`dogestry remote add\``,
        );
      }
      return new DogestryConfig(path, false, IniDocument.parse('', path));
    }
    const userDir = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
    for (const path of [resolve(cwd, 'dogestry.cfg'), join(userDir, 'dogestry', 'dogestry.cfg')]) {
      if (existsSync(path)) return new DogestryConfig(path, true, parse(path));
    }
    const path = resolve(cwd, 'dogestry.cfg');
    return new DogestryConfig(path, false, IniDocument.parse('', path));
  }

  section(name: string): Record<string, string | undefined> {
    return { ...(this.data[name] ?? {}) };
  }

  remotes(): { name: string; url: string }[] {
    return Object.entries(this.data)
      .map(([section, values]) => ({ match: /^remote "(.+)"$/.exec(section), url: values?.url }))
      .filter((r): r is { match: RegExpExecArray; url: string } => r.match !== null && typeof r.url === 'string')
      .map((r) => ({ name: r.match[1] as string, url: r.url }));
  }

  /**
   * What a REMOTE argument means: an alias from this file, else a URL or path. Settings are
   * the transport's section (`[s3]` or `[http]`) overlaid with the alias's own keys.
   */
  resolveRemote(argument: string): { url: string; alias?: string; settings: Record<string, string | undefined> } {
    const section = this.data[`remote "${argument}"`];
    if (section) {
      if (!section.url) throw new ConfigError(`[remote "${argument}"] in ${this.path} has no url`);
      return { url: section.url, alias: argument, settings: { ...this.transportSection(section.url), ...section } };
    }
    if (ALIAS.test(argument) && !argument.includes('.') && !existsSync(argument)) {
      const known = this.remotes().map((r) => r.name);
      throw new ConfigError(
        `no remote named ${JSON.stringify(argument)} in ${this.exists ? this.path : 'any dogestry.cfg'}` +
          (known.length ? ` (known: ${known.join(', ')})` : '') +
          `: add it with \`dogestry remote add ${argument} URL\`, or give a path like ./${argument}`,
      );
    }
    const url = normalizeRemoteUrl(argument);
    return { url, settings: this.transportSection(url) };
  }

  private transportSection(url: string): Record<string, string | undefined> {
    if (url.startsWith('s3:')) return this.section('s3');
    if (url.startsWith('http:') || url.startsWith('https:')) return this.section('http');
    return {};
  }

  async addRemote(name: string, location: string): Promise<string> {
    assertAlias(name);
    if (this.document.has(`remote "${name}"`)) {
      throw new ConfigError(
        `remote ${name} already exists in ${this.path}: change its URL with \`dogestry remote set-url ${name} URL\`, or remove it first`,
      );
    }
    const url = this.remoteUrl(name, location);
    this.document.addSection(`remote "${name}"`, { url });
    await this.save();
    return url;
  }

  async removeRemote(name: string): Promise<void> {
    this.document.removeSection(this.sectionOf(name));
    await this.save();
  }

  async renameRemote(from: string, to: string): Promise<void> {
    const section = this.sectionOf(from);
    assertAlias(to);
    if (this.document.has(`remote "${to}"`)) throw new ConfigError(`remote ${to} already exists in ${this.path}`);
    this.document.renameSection(section, `remote "${to}"`);
    await this.save();
  }

  async setRemoteUrl(name: string, location: string): Promise<string> {
    const section = this.sectionOf(name);
    const url = this.remoteUrl(name, location);
    this.document.set(section, 'url', url);
    await this.save();
    return url;
  }

  private sectionOf(name: string): string {
    const section = `remote "${name}"`;
    if (!this.document.has(section)) {
      const known = this.remotes().map((r) => r.name);
      throw new ConfigError(
        `no remote named ${JSON.stringify(name)} in ${this.path}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
      );
    }
    return section;
  }

  /** The URL to store for an alias: a path or URL, never another alias. */
  private remoteUrl(name: string, location: string): string {
    if (this.data[`remote "${location}"`]) {
      throw new ConfigError(
        `${location} is itself a remote alias: give ${name} a path or URL (\`dogestry remote list\` shows ${location}'s)`,
      );
    }
    return normalizeRemoteUrl(location);
  }

  /** An alias whose url names another alias would be read as a relative path: refuse it. */
  private checkAliases(): void {
    for (const { name, url } of this.remotes()) {
      if (ALIAS.test(url) && this.data[`remote "${url}"`]) {
        throw new ConfigError(`[remote "${name}"] in ${this.path} has url = ${url}, another alias: give it that remote's path or URL`);
      }
    }
  }

  private async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    await writeFile(tmp, this.document.toString(), { mode: 0o600 });
    await rename(tmp, this.path);
    this.data = this.document.sections();
  }
}

function assertAlias(name: string): void {
  if (!ALIAS.test(name)) throw new ConfigError(`invalid remote name ${JSON.stringify(name)}: use letters, digits, - and _`);
}

function parse(path: string): IniDocument {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  return IniDocument.parse(text, path);
}
