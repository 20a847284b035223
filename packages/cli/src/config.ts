import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, normalizeRemoteUrl } from '@dogestry/core';
import ini from 'ini';

/** dogestry.cfg: `[remote "NAME"] url = …`, `[s3]`, `[http]`, `[docker] connection = …`. */
export type ConfigData = Record<string, Record<string, string | undefined> | undefined>;

const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export class DogestryConfig {
  private constructor(
    /** The file this config came from, or would be written to. */
    readonly path: string,
    readonly exists: boolean,
    private data: ConfigData,
  ) {}

  /**
   * Find dogestry.cfg: `--config`, then `$DOGESTRY_CONFIG`, then `./dogestry.cfg`, then the
   * user config dir (`$XDG_CONFIG_HOME/dogestry/dogestry.cfg`, `~/.config/dogestry/dogestry.cfg`).
   * When none exists, the config is empty and writes go to `./dogestry.cfg`.
   */
  static load(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): DogestryConfig {
    const named = explicit ?? env.DOGESTRY_CONFIG;
    if (named) {
      const path = resolve(cwd, named);
      return new DogestryConfig(path, existsSync(path), existsSync(path) ? parse(path) : {});
    }
    const userDir = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
    for (const path of [resolve(cwd, 'dogestry.cfg'), join(userDir, 'dogestry', 'dogestry.cfg')]) {
      if (existsSync(path)) return new DogestryConfig(path, true, parse(path));
    }
    return new DogestryConfig(resolve(cwd, 'dogestry.cfg'), false, {});
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
    if (!ALIAS.test(name)) throw new ConfigError(`invalid remote name ${JSON.stringify(name)}: use letters, digits, - and _`);
    if (this.data[`remote "${name}"`]) {
      throw new ConfigError(`remote ${name} already exists in ${this.path}: remove it first with \`dogestry remote remove ${name}\``);
    }
    const url = normalizeRemoteUrl(location);
    this.data[`remote "${name}"`] = { url };
    await this.save();
    return url;
  }

  async removeRemote(name: string): Promise<void> {
    if (!this.data[`remote "${name}"`]) throw new ConfigError(`no remote named ${JSON.stringify(name)} in ${this.path}`);
    delete this.data[`remote "${name}"`];
    await this.save();
  }

  private async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    await writeFile(tmp, ini.stringify(this.data, { whitespace: true }), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}

function parse(path: string): ConfigData {
  try {
    return ini.parse(readFileSync(path, 'utf8')) as ConfigData;
  } catch (cause) {
    throw new ConfigError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}
