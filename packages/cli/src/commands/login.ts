import { AuthError, UsageError } from '@dogestry/core/errors';
import * as format from '@dogestry/core/lib/format';
import { openRemote } from '@dogestry/core/lib/transports';
import { BaseCommand } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';
import { CredentialStore } from '../credentials.js';
import { readSecret } from '../secret-input.js';

export default class Login extends BaseCommand {
  static override summary = "Store a remote's credentials, checked with one read, for every later command.";
  static override description =
    `For an s3:// remote: an access key id (--username) and its secret access key. For an http(s):// remote: a user and password, or with --token a bearer token. The secret is asked for without echo, or read from stdin with --password-stdin (as \`docker login\` has it), checked with one read of the remote, and stored for that remote only in the user's config dir (~/.config/dogestry/credentials.json, mode 0600). Nothing is stored if the check fails.

Where commands look for credentials, first to last: the URL's own user info (http), the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, DOGESTRY_HTTP_TOKEN), what login stored, [s3]/[http]/[remote] keys in dogestry.cfg, then the AWS SDK's chain (profiles, instance roles).`;
  static override examples = [
    'printf %s "$SECRET" | dogestry login central --username AKIAEXAMPLE --password-stdin',
    'dogestry login https://images.example.com/repo/ --username deploy',
    'printf %s "$TOKEN" | dogestry login https://images.example.com/repo/ --token --password-stdin',
  ];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias or URL (s3:// or http(s)://)' }),
  };
  static override flags = {
    username: Flags.string({ char: 'u', description: 's3: the access key id; http: the user (asked for when missing on a terminal)' }),
    'password-stdin': Flags.boolean({ default: false, description: 'read the secret (secret key, password or token) from stdin' }),
    token: Flags.boolean({ default: false, description: 'http: the secret is a bearer token, and there is no user' }),
  };

  async run(): Promise<{ remote: string; stored: string }> {
    const { args, flags } = this.parse(Login);
    const { remote: url, remoteOptions } = this.remote(args.remote, flags);
    const s3 = url.startsWith('s3:');
    if (!s3 && !/^https?:/.test(url)) {
      throw new UsageError(`${url} needs no credentials: login is for s3:// and http(s):// remotes`);
    }
    if (s3 && flags.token)
      throw new UsageError('--token is for http(s) remotes; an s3 remote takes --username (the access key id) and its secret');
    const username = flags.token ? undefined : (flags.username ?? (await this.ask(s3 ? 'Access key id: ' : 'Username: ', false)));
    if (!flags.token && !username) throw new UsageError(`give --username (${s3 ? 'the access key id' : 'the user'})`);
    const secret = flags['password-stdin']
      ? await readStdin()
      : await this.ask(s3 ? 'Secret access key: ' : flags.token ? 'Token: ' : 'Password: ', true);
    if (!secret) throw new UsageError('the secret is empty');
    const credentials: Record<string, string> = s3
      ? { access_key_id: username as string, secret_access_key: secret }
      : flags.token
        ? { token: secret }
        : { username: username as string, password: secret };
    // Checked alone: no credentials from the environment or dogestry.cfg may stand in for them.
    const remote = await openRemote(url, { settings: withoutSecrets(remoteOptions.settings), env: {}, credentials });
    try {
      await format.readMarker(remote);
      if (!s3) await remote.prepare?.('write');
    } catch (error) {
      if (error instanceof AuthError) throw new AuthError(`${remote.url} refused these credentials: nothing was stored`);
      throw error;
    } finally {
      await remote.close?.();
    }
    const store = CredentialStore.load();
    await store.set(url, credentials);
    this.logToStderr(`credentials for ${remote.url} stored in ${store.path}`);
    return { remote: remote.url, stored: store.path };
  }

  private async ask(prompt: string, secret: boolean): Promise<string> {
    if (!process.stdin.isTTY) {
      throw new UsageError(`no terminal to ask on: give --username and --password-stdin`);
    }
    return readSecret(prompt, secret);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** The remote's settings without credentials of dogestry.cfg's own (an endpoint or region stays). */
function withoutSecrets(settings: Readonly<Record<string, string | undefined>> | undefined): Record<string, string | undefined> {
  const kept: Record<string, string | undefined> = { ...settings };
  for (const key of ['access_key_id', 'secret_access_key', 'session_token', 'username', 'password', 'token', 'profile']) delete kept[key];
  return kept;
}
