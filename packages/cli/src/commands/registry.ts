import * as format from '@dogestry/core/lib/format';
import { openRemote } from '@dogestry/core/lib/transports';
import { BaseCommand } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';

export default class Registry extends BaseCommand {
  static override summary = 'Serve a remote as a registry: docker, podman, skopeo and containerd pull from it and push to it.';
  static override description =
    `Answers the OCI distribution API (v2) over REMOTE, whatever it is: a directory, s3://, http(s)://, or a pull ticket (read-only). What \`dogestry push\` stored there is pulled with the usual clients, and what they push, \`dogestry pull\` loads:

  dogestry registry central --listen 127.0.0.1:5000
  docker pull 127.0.0.1:5000/myapp:1.0
  docker tag myapp:1.1 127.0.0.1:5000/myapp:1.1 && docker push 127.0.0.1:5000/myapp:1.1
  dogestry pull central myapp:1.1

Docker treats 127.0.0.0/8 as an insecure registry it may reach over plain HTTP; Podman wants --tls-verify=false, ctr --plain-http. Layers \`dogestry push\` stored compressed are served as the uncompressed tars their manifests describe; what clients push is kept as they pushed it (gzip layers under their compressed digest, indexes, OCI artifacts, referrers). Every blob is checked against its digest as it streams. Pushes add the \`registry\` format feature to the remote, which dogestry before 0.4 cannot write to (docs/FORMAT.md). Deletes remove tags and links; \`dogestry gc\` reclaims the content.

Access: on 127.0.0.1 (the default) anyone on this host may pull and push. Beyond loopback, --htpasswd FILE (bcrypt users, \`htpasswd -B\`) or --anonymous-read is required, passwords need --tls-cert/--tls-key, and only htpasswd users push. --read-only refuses every push and delete. It runs until interrupted (Ctrl-C, SIGTERM); each request is logged to stderr without credentials.`;
  static override examples = [
    'dogestry registry central',
    'dogestry registry s3://bucket/repo/ --listen 0.0.0.0:5000 --htpasswd /etc/dogestry/htpasswd --tls-cert cert.pem --tls-key key.pem',
    'dogestry registry /srv/images --listen 10.0.0.5:5000 --anonymous-read',
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
    'anonymous-read': Flags.boolean({
      default: false,
      description: 'let anyone who can reach the port pull, without credentials (never push)',
    }),
    'read-only': Flags.boolean({ default: false, description: 'refuse every push and delete' }),
    'tls-cert': Flags.string({ description: 'PEM certificate to serve HTTPS with (with --tls-key)' }),
    'tls-key': Flags.string({ description: 'PEM private key for --tls-cert' }),
  };

  /** Under --json, the one document is printed once listening (scripts read the URL from it), not at exit. */
  async run(): Promise<void> {
    const { args, flags } = this.parse(Registry);
    const { remote: location, remoteOptions } = this.remote(args.remote, flags);
    const { startRegistry } = await import('@dogestry/server');
    const remote = await openRemote(location, remoteOptions);
    try {
      // A path or URL that holds no repository (or a server that is down) fails now, not at the
      // first pull; an empty writable one is fine where pushes may fill it.
      await format.requireRepository(remote).catch(async (error: unknown) => {
        if ((error as { code?: string }).code !== 'NOT_FOUND' || flags['read-only']) throw error;
        await format.assertWritable(remote);
        await format.checkMarker(remote, 'write');
      });
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
      readOnly: flags['read-only'],
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      log: quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    });
    // The URL first, alone on stdout, so scripts can read where it listens (port 0 picks one).
    if (this.jsonEnabled()) this.logJson({ url: registry.url, remote: remote.url });
    else this.log(registry.url);
    this.logToStderr(`serving ${remote.url} at ${registry.url}${flags['read-only'] ? ' (read-only)' : ''}`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await registry.close();
    await remote.close?.();
  }
}
