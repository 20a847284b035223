import { listTags } from '@dogestry/core/lib/catalog';
import { BaseCommand } from '../base-command.js';
import { Args } from '../cli/spec.js';

export default class Tags extends BaseCommand {
  static override summary = 'List the tags of one image name on a remote.';
  static override examples = ['dogestry tags central myapp'];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    name: Args.string({ required: true, description: 'repository name, like myapp or team/app' }),
  };

  async run(): Promise<{ name: string; tags: string[] }> {
    const { args, flags } = this.parse(Tags);
    const tags = await listTags({ ...this.remote(args.remote, flags), name: args.name });
    this.log(tags.length ? tags.join('\n') : `no tags for ${args.name}`);
    return { name: args.name, tags };
  }
}
