import { type PullResult, pull, UsageError } from '@dogestry/core';
import { Args, Flags } from '@oclif/core';
import { BaseCommand, engineFlags } from '../base-command.js';
import { formatBytes, shortId } from '../format.js';

export default class Pull extends BaseCommand {
  static override summary = 'Pull images from a remote into the Docker engine.';
  static override description =
    `With --pull-hosts, every reachable engine is loaded even when others fail; then the exit code is 10 (PARTIAL) and the report names each host's outcome.

IMAGE is name[:tag] or an image-id prefix (4+ hex digits). Every blob is verified by its digest, and no layer is loaded before it is verified (layers stream into the load as they download; one that fails its check cuts the load, which the engine discards whole); only the layers the engine lacks (the longest chain of layers it already has is skipped) are downloaded, into a local cache, and loaded. With --pull-hosts, several engines are loaded from one download.`;
  static override examples = [
    '<%= config.bin %> pull central myapp:1.0',
    '<%= config.bin %> pull central 3f2a',
    '<%= config.bin %> pull /srv/images myapp:1.0 --pull-hosts unix:///run/a.sock,tcp://10.0.0.5:2375',
  ];
  static override strict = false;
  static override usage = '<%= command.id %> REMOTE IMAGE... [FLAGS]';
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    image: Args.string({ required: true, description: 'image(s): name[:tag] or image-id prefix' }),
  };
  static override flags = {
    ...engineFlags,
    as: Flags.string({ description: 'tag the pulled image as name:tag (one image only)' }),
    'pull-hosts': Flags.string({ description: 'comma-separated Docker hosts to load into, all from one download' }),
    'cache-dir': Flags.string({ description: 'cache of verified blobs (default: $XDG_CACHE_HOME/dogestry or ~/.cache/dogestry)' }),
  };

  async run(): Promise<{ pulled: PullResult[] }> {
    const { args, argv, flags } = await this.parse(Pull);
    const images = (argv as string[]).slice(1);
    if (flags.as !== undefined && images.length > 1) throw new UsageError('--as takes one image');
    const hosts = flags['pull-hosts']
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const progress = this.progress(flags);
    const pulled: PullResult[] = [];
    for (const image of images) {
      const result = await pull({
        ...this.remote(args.remote, flags),
        image,
        ...(flags.as !== undefined ? { as: flags.as } : {}),
        ...(hosts?.length ? { dockerHosts: hosts } : { dockerHost: this.dockerHost(flags) }),
        ...(flags['cache-dir'] ? { cacheDir: flags['cache-dir'] } : {}),
        onProgress: progress.listener,
      });
      progress.finish();
      pulled.push(result);
      const what = `${result.image ?? shortId(result.imageId)} (${shortId(result.imageId)})`;
      for (const engine of result.engines) {
        this.log(
          engine.alreadyPresent
            ? `${what} was already on ${engine.engine}`
            : `pulled ${what} into ${engine.engine}: ${engine.layersLoaded} layers loaded, ${engine.layersPresent} already there`,
        );
      }
      // One download serves every engine: say it once.
      this.log(
        `${formatBytes(result.bytesDownloaded)} downloaded from ${result.remote}${result.engines.length > 1 ? `, once for ${result.engines.length} engines` : ''}`,
      );
    }
    return { pulled };
  }
}
