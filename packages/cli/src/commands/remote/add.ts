import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class RemoteAdd extends BaseCommand {
  static override summary = 'Add a remote alias to dogestry.cfg.';
  static override examples = [
    '<%= config.bin %> remote add central /srv/images',
    "<%= config.bin %> remote add central 's3://ops-goodies/docker-repo/?region=us-west-2'",
  ];
  static override args = {
    name: Args.string({ required: true, description: 'alias: letters, digits, - and _' }),
    url: Args.string({ required: true, description: 'path, file://, s3:// or http(s):// URL' }),
  };

  async run(): Promise<{ name: string; url: string; config: string }> {
    const { args, flags } = await this.parse(RemoteAdd);
    const config = this.dogestryConfig(flags.config);
    const url = await config.addRemote(args.name, args.url);
    this.log(`added remote ${args.name} -> ${url} in ${config.path}`);
    return { name: args.name, url, config: config.path };
  }
}
