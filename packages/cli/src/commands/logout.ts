import { BaseCommand } from '../base-command.js';
import { Args } from '../cli/spec.js';
import { maskCredentials } from '../config.js';
import { CredentialStore } from '../credentials.js';

export default class Logout extends BaseCommand {
  static override summary = 'Forget the credentials `dogestry login` stored for a remote.';
  static override description =
    'Removes them from the credentials file; the remote is then reached with whatever the environment, dogestry.cfg or the AWS SDK chain give.';
  static override examples = ['dogestry logout central'];
  static override args = {
    remote: Args.string({ required: true, description: 'remote alias or URL' }),
  };

  async run(): Promise<{ remote: string; removed: boolean }> {
    const { args, flags } = this.parse(Logout);
    const { remote } = this.remote(args.remote, flags);
    const store = CredentialStore.load();
    const removed = await store.remove(remote);
    this.logToStderr(
      removed
        ? `credentials for ${maskCredentials(remote)} removed from ${store.path}`
        : `no credentials were stored for ${maskCredentials(remote)}`,
    );
    return { remote: maskCredentials(remote), removed };
  }
}
