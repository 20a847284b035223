import { BaseCommand } from '../../base-command.js';
import { maskCredentials } from '../../config.js';
import { table } from '../../format.js';

export default class RemoteList extends BaseCommand {
  static override summary = 'List the remote aliases in dogestry.cfg.';

  async run(): Promise<{ remotes: { name: string; url: string }[]; config: string }> {
    const { flags } = await this.parse(RemoteList);
    const config = this.dogestryConfig(flags.config);
    const remotes = config.remotes().map((r) => ({ name: r.name, url: maskCredentials(r.url) }));
    this.log(remotes.length ? table(remotes.map((r) => [r.name, r.url])) : `no remotes in ${config.path}`);
    return { remotes, config: config.path };
  }
}
