/**
 * The host agent's bearer token: read from `--token-file` or `DOGESTRY_SERVER_TOKEN`, and
 * compared in constant time (both sides hashed first, so neither the length nor a prefix leaks
 * through timing).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@dogestry/core';

/** At least this many characters: a token is a secret, not a password to remember. */
const MIN_LENGTH = 16;

export function readToken(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let token: string | undefined;
  if (file) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (cause) {
      throw new ConfigError(`cannot read the token file ${file}`, { cause });
    }
  } else token = env.DOGESTRY_SERVER_TOKEN?.trim() || undefined;
  if (token !== undefined && token.length < MIN_LENGTH) {
    throw new ConfigError(
      `the server token ${file ? `in ${file} ` : ''}is shorter than ${MIN_LENGTH} characters: make one with \`openssl rand -hex 32\``,
    );
  }
  return token;
}

/** Whether an Authorization header carries `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = createHash('sha256')
    .update(match?.[1] ?? '')
    .digest();
  const wanted = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, wanted) && match !== null;
}
