/**
 * What `dogestry login` stores: per remote URL, the credentials every command then uses for
 * it, in a file of its own beside dogestry.cfg in the user's config dir
 * (`$XDG_CONFIG_HOME/dogestry/credentials.json`, else `~/.config/dogestry/credentials.json`),
 * mode 0600 in a 0700 directory, written atomically. Never printed, never logged.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '@dogestry/core/errors';

export type Credentials = Readonly<Record<string, string>>;

interface StoredFile {
  readonly credentials: Record<string, Record<string, string>>;
}

export class CredentialStore {
  private constructor(
    readonly path: string,
    private readonly stored: StoredFile,
  ) {}

  /** `$DOGESTRY_CREDENTIALS`, else credentials.json in the user's dogestry config dir. */
  static pathFor(env: NodeJS.ProcessEnv = process.env): string {
    if (env.DOGESTRY_CREDENTIALS) return env.DOGESTRY_CREDENTIALS;
    return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'dogestry', 'credentials.json');
  }

  static load(env: NodeJS.ProcessEnv = process.env): CredentialStore {
    const path = CredentialStore.pathFor(env);
    if (!existsSync(path)) return new CredentialStore(path, { credentials: {} });
    // Another user able to read the file could read the secrets: refuse to use it rather than spread them.
    if ((statSync(path).mode & 0o077) !== 0) {
      throw new ConfigError(`${path} is readable by other users: \`chmod 600 ${path}\`, then rotate the credentials it holds`);
    }
    let parsed: Partial<StoredFile>;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<StoredFile>;
    } catch (cause) {
      throw new ConfigError(`${path} is not JSON: fix it, or remove it and \`dogestry login\` again`, { cause });
    }
    if (typeof parsed.credentials !== 'object' || parsed.credentials === null) {
      throw new ConfigError(`${path} holds no "credentials" object: remove it and \`dogestry login\` again`);
    }
    return new CredentialStore(path, { credentials: parsed.credentials });
  }

  /** The credentials stored for the remote at `url`, if any. */
  get(url: string): Credentials | undefined {
    const found = this.stored.credentials[url];
    return found ? { ...found } : undefined;
  }

  async set(url: string, credentials: Credentials): Promise<void> {
    this.stored.credentials[url] = { ...credentials };
    await this.save();
  }

  /** Forget the remote's credentials; answers whether there were any. */
  async remove(url: string): Promise<boolean> {
    if (!(url in this.stored.credentials)) return false;
    delete this.stored.credentials[url];
    await this.save();
    return true;
  }

  private async save(): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(this.stored, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600); // whatever the umask
    await rename(tmp, this.path);
  }
}
