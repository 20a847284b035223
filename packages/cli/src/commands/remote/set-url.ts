import { BaseCommand } from '../../base-command.js';
import { Args } from '../../cli/spec.js';
import { maskCredentials } from '../../config.js';

export default class RemoteSetUrl extends BaseCommand {
  static override summary = "Change a remote alias's URL in dogestry.cfg.";
  static override description = 'Replaces the url line where it is; other settings and comments stay.';
  static override examples = ["dogestry remote set-url central 's3://new-bucket/repo/?region=eu-west-1'"];
  static override args = {
    name: Args.string({ required: true, description: 'the alias' }),
    url: Args.string({ required: true, description: 'path, file://, s3:// or http(s):// URL' }),
  };

  async run(): Promise<{ name: string; url: string; config: string }> {
    const { args, flags } = this.parse(RemoteSetUrl);
    const config = this.dogestryConfig(flags.config);
    const url = maskCredentials(await config.setRemoteUrl(args.name, args.url));
    this.log(`remote ${args.name} -> ${url} in ${config.path}`);
    return { name: args.name, url, config: config.path };
  }
}
