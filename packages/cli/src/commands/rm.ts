import { removeTag } from '@dogestry/core/lib/catalog';
import { BaseCommand } from '../base-command.js';
import { Args } from '../cli/spec.js';

export default class Rm extends BaseCommand {
  static override summary = 'Remove a tag from a remote.';
  static override description = 'Only the tag goes; blobs shared with other images stay.';
  static override examples = ['dogestry rm central myapp:1.0'];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias, path or URL' }),
    image: Args.string({ required: true, description: 'name:tag to remove' }),
  };

  async run(): Promise<{ removed: string; manifestDigest: string }> {
    const { args, flags } = this.parse(Rm);
    const result = await removeTag({ ...this.remote(args.remote, flags), image: args.image });
    this.log(`removed ${result.removed}`);
    return result;
  }
}
