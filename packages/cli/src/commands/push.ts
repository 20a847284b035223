import { UsageError } from '@dogestry/core/errors';
import { COMPRESSIONS, parseCompression } from '@dogestry/core/lib/compression';
import { type PushResult, push } from '@dogestry/core/lib/push';
import { BaseCommand, engineFlags } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';
import { formatBytes, shortId } from '../format.js';

export default class Push extends BaseCommand {
  static override summary = 'Push images from the Docker engine to a remote.';
  static override description =
    `Writes only the layers the remote lacks, streaming them from \`docker save\` (lz4 by default), then the config, the manifest, and the tag last: a tag on the remote always points at a complete image. Pushing an image the remote already has writes nothing.

REMOTE is an alias from dogestry.cfg (see \`dogestry remote add\`), a directory path, or a file://, s3:// or http(s):// URL.`;
  static override examples = [
    'dogestry push central myapp:1.0',
    'dogestry push /srv/images redis:7 nginx:1.25',
    'dogestry push s3://bucket/repo/?region=us-west-2 app:1 --compression gzip',
    'dogestry push central 3f2a9c1b --as myapp:hotfix',
  ];
  static override variadic = true;
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    image: Args.string({ required: true, description: 'image(s) on the engine: name[:tag] (tag defaults to latest)' }),
  };
  static override flags = {
    ...engineFlags,
    compression: Flags.string({
      options: [...COMPRESSIONS],
      default: 'lz4',
      description:
        'how new layers are stored: lz4 compresses each 1 MiB that pays and stores the rest as is (fastest); zstd stores ~25% less for ~1.5x the CPU, and needs dogestry 0.3+ to read the remote; gzip is the slowest; none stores the tar',
    }),
    as: Flags.string({ description: 'name:tag to push under on the remote (one image only)' }),
  };

  async run(): Promise<{ pushed: PushResult[] }> {
    const { args, argv, flags } = this.parse(Push);
    const images = (argv as string[]).slice(1);
    if (flags.as !== undefined && images.length > 1) throw new UsageError('--as takes one image');
    const progress = this.progress(flags);
    const pushed: PushResult[] = [];
    for (const image of images) {
      const result = await push({
        ...this.remote(args.remote, flags),
        image,
        ...(flags.as !== undefined ? { as: flags.as } : {}),
        dockerHost: this.dockerHost(flags),
        compression: parseCompression(flags.compression),
        onProgress: progress.listener,
      });
      progress.finish();
      pushed.push(result);
      const uploaded = result.layers.filter((l) => l.result === 'uploaded').length;
      this.log(
        uploaded === 0 && !result.tagUpdated
          ? `${result.image} (${shortId(result.imageId)}) is already up to date on ${result.remote}`
          : `pushed ${result.image} (${shortId(result.imageId)}) to ${result.remote}: ${uploaded} of ${result.layers.length} layers uploaded, ${formatBytes(result.bytesWritten)} written`,
      );
    }
    return { pushed };
  }
}
