import { format, openRemote } from '@dogestry/core/internal';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Registry extends BaseCommand {
  static override summary = 'Serve a remote as a registry, so docker, podman, skopeo and containerd pull from it.';
  static override description =
    `Answers the pull side of the OCI distribution API (v2) over REMOTE, whatever it is: a directory, s3://, http(s)://, or a pull ticket. What \`dogestry push\` stored there is then pulled with the usual clients:

  dogestry registry central --listen 127.0.0.1:5000
  docker pull 127.0.0.1:5000/myapp:1.0

Docker treats 127.0.0.0/8 as an insecure registry it may reach over plain HTTP; Podman wants --tls-verify=false, ctr --plain-http. Layers stored compressed are served as the uncompressed tars their manifests describe, each checked against its digest as it streams. Pushing through the registry is not supported yet: push with \`dogestry push\`.

Access: on 127.0.0.1 (the default) anyone on this host may pull. Beyond loopback, --htpasswd FILE (bcrypt users, \`htpasswd -B\`) or --anonymous-read is required, and passwords need --tls-cert/--tls-key. It runs until interrupted (Ctrl-C, SIGTERM); each request is logged to stderr without credentials.`;
  static override examples = [
    '<%= config.bin %> registry central',
    '<%= config.bin %> registry s3://bucket/repo/ --listen 0.0.0.0:5000 --htpasswd /etc/dogestry/htpasswd --tls-cert cert.pem --tls-key key.pem',
    '<%= config.bin %> registry /srv/images --listen 10.0.0.5:5000 --anonymous-read',
  ];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path, URL or pull ticket' }),
  };
  static override flags = {
    listen: Flags.string({
      default: '127.0.0.1:5000',
      description: 'HOST:PORT to listen on ([::1]:PORT for IPv6; port 0 picks a free one)',
    }),
    htpasswd: Flags.string({ description: 'bcrypt htpasswd file: requests need one of its users (re-read when it changes)' }),
    'anonymous-read': Flags.boolean({ default: false, description: 'let anyone who can reach the port pull, without credentials' }),
    'tls-cert': Flags.string({ description: 'PEM certificate to serve HTTPS with (with --tls-key)' }),
    'tls-key': Flags.string({ description: 'PEM private key for --tls-cert' }),
  };

  /** Under --json, the one document is printed once listening (scripts read the URL from it), not at exit. */
  async run(): Promise<void> {
    const { args, flags } = await this.parse(Registry);
    const { remote: location, remoteOptions } = this.remote(args.remote, flags);
    const { startRegistry } = await import('@dogestry/server');
    const remote = await openRemote(location, remoteOptions);
    try {
      // A path or URL that holds no repository (or a server that is down) fails now, not at the first pull.
      await format.requireRepository(remote);
    } catch (error) {
      await remote.close?.();
      throw error;
    }
    const quiet = flags.quiet; // the request log goes to stderr, so --json (stdout) keeps it
    const registry = await startRegistry({
      remote,
      listen: flags.listen,
      htpasswd: flags.htpasswd,
      anonymousRead: flags['anonymous-read'],
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      log: quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    });
    // The URL first, alone on stdout, so scripts can read where it listens (port 0 picks one).
    if (this.jsonEnabled()) this.logJson({ url: registry.url, remote: remote.url });
    else this.log(registry.url);
    this.logToStderr(`serving ${remote.url} at ${registry.url} (pull only)`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await registry.close();
    await remote.close?.();
  }
}
