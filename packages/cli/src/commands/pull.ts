import { ConfigError, UsageError } from '@dogestry/core/errors';
import type { DelegationOptions } from '@dogestry/core/lib/delegate';
import { type PullResult, pull } from '@dogestry/core/lib/pull';
import { BaseCommand, engineFlags } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';
import { formatBytes, shortId } from '../format.js';

export default class Pull extends BaseCommand {
  static override summary = 'Pull images from a remote into the Docker engine.';
  static override description =
    `With --pull-hosts, every reachable engine is loaded even when others fail; then the exit code is 10 (PARTIAL) and the report names each host's outcome, after every other host finished.

Hosts that run a dogestry server (\`dogestry serve\`) pull for themselves, so this machine's link carries no layer bytes for them: name one as dogestry://HOST:22375, or give the servers' token (DOGESTRY_SERVER_TOKEN or --server-token-file) and each tcp://HOST engine is asked whether a server answers on HOST:22375 (--server-port). For an s3:// remote each such host is handed a pull ticket for this image that expires in 15 minutes (a host whose ticket expires mid-pull is sent a fresh one), only over TLS (--server-ca) or to loopback; an http(s) remote is handed over by its alias, which the host's own dogestry.cfg must name; a directory on this machine is never handed over. Hosts without a server are loaded from here, as before.

IMAGE is name[:tag] or an image-id prefix (4+ hex digits). Every blob is verified by its digest, and no layer is loaded before it is verified (layers stream into the load as they download; one that fails its check cuts the load, which the engine discards whole); only the layers the engine lacks (the longest chain of layers it already has is skipped) are downloaded and loaded, streamed from the remote into the engine's load. With --pull-hosts, several engines are loaded from one download, through a local cache.`;
  static override examples = [
    'dogestry pull central myapp:1.0',
    'dogestry pull central 3f2a',
    'dogestry pull /srv/images myapp:1.0 --pull-hosts unix:///run/a.sock,tcp://10.0.0.5:2375',
    'DOGESTRY_SERVER_TOKEN=… dogestry pull central myapp:1.0 --pull-hosts tcp://h1:2375,tcp://h2:2375,dogestry://h3:22375 --server-ca ca.pem',
  ];
  static override variadic = true;
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    image: Args.string({ required: true, description: 'image(s): name[:tag] or image-id prefix' }),
  };
  static override flags = {
    ...engineFlags,
    as: Flags.string({ description: 'tag the pulled image as name:tag (one image only)' }),
    'pull-hosts': Flags.string({
      description: 'comma-separated Docker hosts to load into, all from one download; dogestry://HOST:PORT hosts pull for themselves',
    }),
    'server-token-file': Flags.string({
      description:
        "file holding the hosts' dogestry server token (default: $DOGESTRY_SERVER_TOKEN); with it, tcp:// hosts are asked whether a server runs next to their engine",
    }),
    'server-port': Flags.integer({ default: 22375, description: 'where dogestry servers listen next to tcp:// engines' }),
    'server-ca': Flags.string({ description: "PEM CA that signed the dogestry servers' certificates: they are then reached over HTTPS" }),
    'cache-dir': Flags.string({
      description:
        'cache of verified blobs, filled when several engines share a download (or with --fill-cache) and read whenever it holds a layer (default: $XDG_CACHE_HOME/dogestry or ~/.cache/dogestry)',
    }),
    'fill-cache': Flags.boolean({
      description:
        'keep a verified copy of every layer downloaded in the cache, so a later pull of it downloads nothing (into one engine, layers otherwise stream from the remote straight into the load: no disk copy, less memory)',
    }),
  };

  async run(): Promise<{ pulled: PullResult[] }> {
    const { args, argv, flags } = this.parse(Pull);
    const images = (argv as string[]).slice(1);
    if (flags.as !== undefined && images.length > 1) throw new UsageError('--as takes one image');
    const hosts = flags['pull-hosts']
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const progress = this.progress(flags);
    const delegation = hosts?.length ? await this.delegation(args.remote, flags) : undefined;
    const pulled: PullResult[] = [];
    for (const image of images) {
      const result = await pull({
        ...this.remote(args.remote, flags),
        image,
        ...(flags.as !== undefined ? { as: flags.as } : {}),
        ...(hosts?.length ? { dockerHosts: hosts, ...(delegation ? { delegation } : {}) } : { dockerHost: this.dockerHost(flags) }),
        ...(flags['cache-dir'] ? { cacheDir: flags['cache-dir'] } : {}),
        ...(flags['fill-cache'] ? { fillCache: true } : {}),
        onProgress: progress.listener,
      });
      progress.finish();
      pulled.push(result);
      const what = `${result.image ?? shortId(result.imageId)} (${shortId(result.imageId)})`;
      for (const engine of result.engines) {
        const by = engine.delegated ? ` by its dogestry server (${formatBytes(engine.delegated.bytesDownloaded)} downloaded there)` : '';
        this.log(
          engine.alreadyPresent
            ? `${what} was already on ${engine.engine}`
            : `pulled ${what} into ${engine.engine}${by}: ${engine.layersLoaded} layers loaded, ${engine.layersPresent} already there`,
        );
      }
      // One download serves every engine: say it once.
      this.log(
        `${formatBytes(result.bytesDownloaded)} downloaded from ${result.remote}${result.engines.length > 1 ? `, once for ${result.engines.length} engines` : ''}`,
      );
    }
    return { pulled };
  }

  /** How --pull-hosts reach dogestry servers: their token, CA and port, and the remote's alias. */
  private async delegation(
    remote: string,
    flags: {
      'server-token-file'?: string | undefined;
      'server-ca'?: string | undefined;
      'server-port': number;
      config?: string | undefined;
    },
  ): Promise<DelegationOptions> {
    const { readFile } = await import('node:fs/promises');
    const read = async (path: string, what: string) =>
      readFile(path).catch((cause: Error) => {
        throw new ConfigError(`cannot read the ${what} ${path}: ${cause.message}`, { cause });
      });
    const token = flags['server-token-file']
      ? (await read(flags['server-token-file'], 'server token file')).toString('utf8').trim()
      : process.env.DOGESTRY_SERVER_TOKEN?.trim() || undefined;
    const alias = this.dogestryConfig(flags.config).resolveRemote(remote).alias;
    return {
      serverPort: flags['server-port'],
      ...(token ? { serverToken: token } : {}),
      ...(flags['server-ca'] ? { serverCa: await read(flags['server-ca'], 'server CA') } : {}),
      ...(alias ? { remoteAlias: alias } : {}),
    };
  }
}
