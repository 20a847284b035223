import { BaseCommand } from '../../base-command.js';
import { Args } from '../../cli/spec.js';
import { maskCredentials } from '../../config.js';

export default class RemoteAdd extends BaseCommand {
  static override summary = 'Add a remote alias to dogestry.cfg.';
  static override description =
    'Appends a [remote "NAME"] section, keeping the rest of the file (comments, order) as it is. Creates dogestry.cfg (./dogestry.cfg, or the file --config or $DOGESTRY_CONFIG names) when there is none. Passwords in URLs are never printed.';
  static override examples = [
    'dogestry remote add central /srv/images',
    "dogestry remote add central 's3://ops-goodies/docker-repo/?region=us-west-2'",
  ];
  static override args = {
    name: Args.string({ required: true, description: 'alias: letters, digits, - and _' }),
    url: Args.string({ required: true, description: 'path, file://, s3:// or http(s):// URL' }),
  };

  static override createsConfig = true;

  async run(): Promise<{ name: string; url: string; config: string }> {
    const { args, flags } = this.parse(RemoteAdd);
    const config = this.dogestryConfig(flags.config);
    const url = maskCredentials(await config.addRemote(args.name, args.url));
    this.log(`added remote ${args.name} -> ${url} in ${config.path}`);
    return { name: args.name, url, config: config.path };
  }
}
