import { BaseCommand } from '../../base-command.js';
import { Args } from '../../cli/spec.js';

export default class RemoteRemove extends BaseCommand {
  static override summary = 'Remove a remote alias from dogestry.cfg (the remote itself is untouched).';
  static override args = { name: Args.string({ required: true, description: 'alias to remove' }) };

  async run(): Promise<{ removed: string; config: string }> {
    const { args, flags } = this.parse(RemoteRemove);
    const config = this.dogestryConfig(flags.config);
    await config.removeRemote(args.name);
    this.log(`removed remote ${args.name} from ${config.path}`);
    return { removed: args.name, config: config.path };
  }
}
