import { VerifyFailedError, type VerifyReport, verify } from '@dogestry/core';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatBytes } from '../format.js';

export default class Verify extends BaseCommand {
  static override summary = 'Re-hash every blob reachable from a tag on a remote.';
  static override description =
    'Reads every manifest, config and layer that some tag needs, decodes it and checks its digest. Exits 4 (VERIFY_FAILED) listing each missing or corrupt blob and the tags that need it.';
  static override examples = ['<%= config.bin %> verify central'];
  static override args = { remote: Args.string({ required: true, description: 'remote alias, path or URL' }) };

  async run(): Promise<VerifyReport> {
    const { args, flags } = await this.parse(Verify);
    const report = await verify(this.remote(args.remote, flags));
    for (const p of report.problems) this.logToStderr(`${p.problem}: ${p.key} (${p.detail}) needed by ${p.tags.join(', ')}`);
    if (report.problems.length > 0) {
      if (this.jsonEnabled()) {
        this.logJson({ ...report, error: { code: VerifyFailedError.code, message: `${report.problems.length} problem(s)` } });
        process.exitCode = VerifyFailedError.exitCode;
        return report;
      }
      throw new VerifyFailedError(
        `${report.problems.length} blob(s) missing or corrupt on ${report.remote}: push the affected images again`,
      );
    }
    this.log(`ok: ${report.tags} tags, ${report.blobs} blobs, ${formatBytes(report.bytes)} verified on ${report.remote}`);
    return report;
  }
}
