import { type GcReport, gc } from '@dogestry/core/lib/gc';
import { parseSeconds } from '@dogestry/core/lib/ticket';
import { BaseCommand } from '../base-command.js';
import { Args, Flags } from '../cli/spec.js';
import { formatBytes } from '../format.js';

export default class Gc extends BaseCommand {
  static override summary = 'Delete what no tag on a remote reaches.';
  static override description =
    `Deletes blobs and image pointers that no tag (and no running push) needs, temporary keys of pushes that died, their leases, expired pull tickets, and the storage's own leftovers (a directory's temporary files, S3's unfinished multipart uploads), each only when older than --grace.

Safe to run at any moment, while pushes run, with any --grace: pushes announce what they rely on in leases that gc honours, and a push that started while gc ran checks its blobs before its tag goes out (docs/FORMAT.md). A killed push's lease stops protecting anything within two minutes. The grace protects writers that do not take part in that protocol (dogestry before 0.2, other tools).`;
  static override examples = ['dogestry gc central --dry-run', 'dogestry gc central', 'dogestry gc s3://bucket/repo/ --grace 0s --json'];
  static override args = { remote: Args.string({ required: true, description: 'remote alias, path or URL' }) };
  static override flags = {
    'dry-run': Flags.boolean({ description: 'say what would be deleted; delete and write nothing' }),
    grace: Flags.string({ default: '1h', description: 'keep anything younger than this (0s, 90s, 15m, 1h, 7d)' }),
  };

  async run(): Promise<GcReport> {
    const { args, flags } = this.parse(Gc);
    const report = await gc({ ...this.remote(args.remote, flags), grace: parseSeconds(flags.grace), dryRun: flags['dry-run'] });
    for (const problem of report.problems) this.logToStderr(`warning: ${problem}`);
    const d = report.deleted;
    const verb = report.dryRun ? 'would free' : 'freed';
    this.log(
      `${verb} ${formatBytes(report.freed.bytes)} in ${report.freed.count} key(s) on ${report.remote}: ${d.blobs.count} blob(s) (${formatBytes(d.blobs.bytes)}), ${d.images.count} image pointer(s), ${d.temporary.count + d.transport.count} temporary, ${d.leases.count} dead lease(s), ${d.tickets.count} expired ticket(s)${d.links.count ? `, ${d.links.count} registry link(s)` : ''}; kept ${report.kept.blobs} blob(s) for ${report.kept.tags} tag(s) and ${report.kept.leases} running push(es)`,
    );
    return report;
  }
}
