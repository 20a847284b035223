import { type CachePruneReport, parseSize, pruneCache } from '@dogestry/core/lib/cache-prune';
import { BaseCommand } from '../../base-command.js';
import { Flags } from '../../cli/spec.js';
import { formatBytes } from '../../format.js';

export default class CachePrune extends BaseCommand {
  static override summary = 'Bound the local pull cache and clear what dead pulls and pushes left.';
  static override description =
    'Removes partial downloads and push spool directories that saw no write for an hour, then, with --max-size, the least recently used cached blobs until the cache fits. Cached blobs are only a speed-up: a later pull fetches what it needs again.';
  static override examples = ['dogestry cache prune', 'dogestry cache prune --max-size 10G'];
  static override flags = {
    'max-size': Flags.string({ description: 'largest the cache may stay (500M, 10G, 1T)' }),
    'cache-dir': Flags.string({ description: 'the cache (default: $XDG_CACHE_HOME/dogestry or ~/.cache/dogestry)' }),
  };

  async run(): Promise<CachePruneReport> {
    const { flags } = this.parse(CachePrune);
    const report = await pruneCache({
      ...(flags['max-size'] ? { maxSize: parseSize(flags['max-size']) } : {}),
      ...(flags['cache-dir'] ? { cacheDir: flags['cache-dir'] } : {}),
    });
    const freed = report.evicted.bytes + report.temporary.bytes + report.spools.bytes;
    this.log(
      `freed ${formatBytes(freed)} in ${report.dir}: ${report.evicted.count} blob(s) evicted, ${report.temporary.count} partial download(s), ${report.spools.count} push spool(s); ${report.kept.count} blob(s), ${formatBytes(report.kept.bytes)} kept`,
    );
    return report;
  }
}
