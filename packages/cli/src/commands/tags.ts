import { listTags } from '@dogestry/core';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Tags extends BaseCommand {
  static override summary = 'List the tags of one image name on a remote.';
  static override examples = ['<%= config.bin %> tags central myapp'];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    name: Args.string({ required: true, description: 'repository name, like myapp or team/app' }),
  };

  async run(): Promise<{ name: string; tags: string[] }> {
    const { args, flags } = await this.parse(Tags);
    const tags = await listTags({ ...this.remote(args.remote, flags), name: args.name });
    this.log(tags.length ? tags.join('\n') : `no tags for ${args.name}`);
    return { name: args.name, tags };
  }
}
