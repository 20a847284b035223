import { DockerApiEngine } from '@dogestry/core/lib/docker/api-engine';
import { DEFAULT_DOCKER_HOST } from '@dogestry/core/lib/docker/connection';
import { BaseCommand, engineFlags } from '../base-command.js';
import { Flags } from '../cli/spec.js';

export default class Serve extends BaseCommand {
  static override summary = "Run a dogestry server on a Docker host: it pulls into this host's engine when a deploy machine asks.";
  static override description =
    `The host agent. A deploy machine that runs \`dogestry pull REMOTE IMAGE --pull-hosts tcp://HOST:2375,dogestry://HOST:22375\` with the same token hands each host with a server its pull: the host downloads only the layers its own engine lacks, verifies and loads them, and streams its progress back, so the deploy machine's link carries no layer bytes.

What it pulls from: a presigned pull ticket the client made for that one pull (an S3 remote: this host needs no cloud credentials, and a ticket reads nothing but its image), or a remote this host's own dogestry.cfg names by alias (an HTTP remote: no credentials are handed over). It never fetches a URL a caller makes up, and never exposes the Docker API: to pull by hand on the host, run \`dogestry registry\` and \`docker pull 127.0.0.1:5000/NAME\` instead.

Access: a bearer token (--token-file, or DOGESTRY_SERVER_TOKEN; at least 16 characters: \`openssl rand -hex 32\`) is required beyond 127.0.0.1, and checked whenever one is set. Clients send it from DOGESTRY_SERVER_TOKEN or --server-token-file. With --tls-cert/--tls-key it speaks HTTPS (clients trust it with --server-ca); tickets are sent only over TLS or to loopback. Several pulls at once share the host's cache, and two pulls of the same image share one download. It runs until interrupted (SIGINT, SIGTERM); a systemd unit is in docs/SERVER.md.`;
  static override examples = [
    'dogestry serve',
    'dogestry serve --listen 0.0.0.0:22375 --token-file /etc/dogestry/token --tls-cert /etc/dogestry/cert.pem --tls-key /etc/dogestry/key.pem',
  ];
  static override flags = {
    ...engineFlags,
    listen: Flags.string({
      default: '127.0.0.1:22375',
      description: 'HOST:PORT to listen on ([::1]:PORT for IPv6; port 0 picks a free one)',
    }),
    'token-file': Flags.string({ description: 'file holding the bearer token callers must send (default: $DOGESTRY_SERVER_TOKEN)' }),
    'tls-cert': Flags.string({ description: 'PEM certificate to serve HTTPS with (with --tls-key)' }),
    'tls-key': Flags.string({ description: 'PEM private key for --tls-cert' }),
    'cache-dir': Flags.string({
      description:
        'cache of verified blobs, read when it holds a layer a pull needs (default: $XDG_CACHE_HOME/dogestry or ~/.cache/dogestry)',
    }),
  };

  /** Under --json, the one document is printed once listening, not at exit. */
  async run(): Promise<void> {
    const { flags } = this.parse(Serve);
    const { readToken, startAgent } = await import('@dogestry/server');
    const token = readToken(flags['token-file']);
    const engine = new DockerApiEngine(this.dockerHost(flags) ?? DEFAULT_DOCKER_HOST, process.env);
    const config = this.dogestryConfig(flags.config);
    const agent = await startAgent({
      listen: flags.listen,
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      token,
      engine,
      version: this.context.version,
      cacheDir: flags['cache-dir'],
      remoteNamed: (alias) => {
        if (!config.remotes().some((r) => r.name === alias)) return undefined;
        return this.remote(alias, flags);
      },
      log: flags.quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    });
    if (this.jsonEnabled()) this.logJson({ url: agent.url, engine: engine.endpoint });
    else this.log(agent.url);
    this.logToStderr(`dogestry server at ${agent.url}, pulling into ${engine.endpoint}${token ? ' (token required)' : ''}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await agent.close();
  }
}
