import { VerifyFailedError } from '@dogestry/core/errors';
import { type VerifyReport, verify } from '@dogestry/core/lib/verify';
import { BaseCommand } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';
import { formatBytes } from '../format.js';

export default class Verify extends BaseCommand {
  static override summary = 'Check everything a pull relies on, for every tag on a remote.';
  static override description =
    `Reads every tag, image pointer, manifest and config, and every layer, decoded and re-hashed against its digest and recorded size, each blob once. Reports every problem and goes on, then exits 4 (VERIFY_FAILED) listing each missing or corrupt key and the tags that need it.

With --repair, deletes every blob that fails its hash (and nothing else), so that pushing the images it names again uploads them afresh.`;
  static override examples = ['dogestry verify central', 'dogestry verify central --repair'];
  static override args = { remote: Args.string({ required: true, description: 'remote alias, path or URL' }) };
  static override flags = {
    repair: Flags.boolean({ description: 'delete blobs that fail their hash, so the next push of their images rewrites them' }),
  };

  async run(): Promise<VerifyReport> {
    const { args, flags } = this.parse(Verify);
    const report = await verify({ ...this.remote(args.remote, flags), repair: flags.repair });
    for (const p of report.problems) this.logToStderr(`${p.problem}: ${p.key} (${p.detail}) needed by ${p.tags.join(', ')}`);
    for (const key of report.repaired) this.logToStderr(`deleted corrupt ${key}`);
    if (report.problems.length === 0) {
      this.log(`ok: ${report.tags} tags, ${report.blobs} blobs, ${formatBytes(report.bytes)} verified on ${report.remote}`);
      return report;
    }
    const again = `push again: ${report.pushAgain.join(' ')}`;
    const message = report.repaired.length
      ? `${report.problems.length} problem(s) on ${report.remote}; ${report.repaired.length} corrupt blob(s) deleted; ${again}`
      : `${report.problems.length} problem(s) on ${report.remote}: ${flags.repair ? '' : 'run `dogestry verify --repair` to delete corrupt blobs, then '}${again}`;
    throw new VerifyFailedError(message, { report });
  }
}
