/**
 * Users from an htpasswd file with bcrypt hashes (Debian's `htpasswd -B`), checked against HTTP
 * basic credentials. bcrypt is slow by design (~0.1 s a check here), so a password that has
 * passed is remembered, as a keyed hash of user and password, until the file changes: a
 * client's many requests cost one bcrypt. Nothing here ever logs a password or a hash.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '@dogestry/core';
import bcrypt from 'bcryptjs';

export class Htpasswd {
  private users = new Map<string, string>();
  private loadedMtime = -1;
  /** HMAC keys of user:password pairs that passed, under a key that lives only in memory. */
  private readonly passed = new Set<string>();
  private readonly key = randomBytes(32);

  constructor(readonly path: string) {
    this.reload();
    if (this.users.size === 0) throw new ConfigError(`${path} holds no users: add one with \`htpasswd -B ${path} NAME\``);
  }

  /** The user named by an `Authorization: Basic …` header, if its password is right. */
  async check(authorization: string | undefined): Promise<string | undefined> {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    this.reload();
    const hash = this.users.get(user);
    if (!hash) {
      dummy ??= bcrypt.hashSync('dogestry-no-such-user', 10);
      await bcrypt.compare(password, dummy); // the same time as a wrong password: no user probing
      return undefined;
    }
    const token = createHmac('sha256', this.key).update(`${user}\0${password}\0${hash}`).digest('hex');
    if (this.passed.has(token)) return user;
    if (!(await bcrypt.compare(password, hash))) return undefined;
    this.passed.add(token);
    return user;
  }

  /** Read the file again when it changed (users added or removed while serving). */
  private reload(): void {
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch (cause) {
      throw new ConfigError(`cannot read the htpasswd file ${this.path}`, { cause });
    }
    if (mtime === this.loadedMtime) return;
    const users = new Map<string, string>();
    for (const [i, line] of readFileSync(this.path, 'utf8').split(/\r?\n/).entries()) {
      if (!line.trim() || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const hash = line.slice(colon + 1).trim();
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$/.test(hash)) {
        throw new ConfigError(`${this.path}:${i + 1}: not a bcrypt entry (user:$2y$…): create users with \`htpasswd -B\``);
      }
      users.set(line.slice(0, colon), hash);
    }
    this.users = users;
    this.loadedMtime = mtime;
    this.passed.clear();
  }
}

/** Compared against when the user does not exist, so both answers take as long. */
let dummy: string | undefined;
