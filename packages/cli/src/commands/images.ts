import { type ImageListing, listImages } from '@dogestry/core/lib/catalog';
import { BaseCommand } from '../base-command.js';
import { Args } from '../cli/spec.js';
import { formatBytes, shortId, table } from '../format.js';

export default class Images extends BaseCommand {
  static override summary = 'List the images on a remote.';
  static override examples = ['dogestry images central', 'dogestry images central myapp', 'dogestry images /srv/images --json'];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    name: Args.string({ description: 'only this repository name' }),
  };

  async run(): Promise<{ images: ImageListing[] }> {
    const { args, flags } = this.parse(Images);
    const images = await listImages({ ...this.remote(args.remote, flags), ...(args.name ? { name: args.name } : {}) });
    if (images.length === 0) this.log('no images');
    else
      this.log(
        table([
          ['IMAGE', 'IMAGE ID', 'SIZE', 'PUSHED'],
          ...images.map((i) =>
            i.problem
              ? [`${i.name}:${i.tag}`, 'BROKEN', '-', i.problem]
              : [`${i.name}:${i.tag}`, i.artifact ? `(${i.artifact})` : shortId(i.imageId), formatBytes(i.size), i.pushedAt ?? '-'],
          ),
        ]),
      );
    const broken = images.filter((i) => i.problem).length;
    if (broken > 0) this.logToStderr(`warning: ${broken} tag(s) cannot be read: run \`dogestry verify\` on this remote`);
    return { images };
  }
}
