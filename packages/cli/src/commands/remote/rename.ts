import { BaseCommand } from '../../base-command.js';
import { Args } from '../../cli/spec.js';

export default class RemoteRename extends BaseCommand {
  static override summary = 'Rename a remote alias in dogestry.cfg.';
  static override description = 'Only the section header changes: the URL, settings and comments stay.';
  static override examples = ['dogestry remote rename central prod'];
  static override args = {
    old: Args.string({ required: true, description: 'the alias now' }),
    new: Args.string({ required: true, description: 'its new name: letters, digits, - and _' }),
  };

  async run(): Promise<{ renamed: string; to: string; config: string }> {
    const { args, flags } = this.parse(RemoteRename);
    const config = this.dogestryConfig(flags.config);
    await config.renameRemote(args.old, args.new);
    this.log(`renamed remote ${args.old} to ${args.new} in ${config.path}`);
    return { renamed: args.old, to: args.new, config: config.path };
  }
}
