// Build a synthetic image tarball for `docker load`: node --import tsx scripts/make-image.ts DIR NAME:TAG [MiB...]
import { buildImageTar } from '../test/support/synthetic-image.ts';

const [dir, repoTag, ...sizes] = process.argv.slice(2);
if (!dir || !repoTag) {
  console.error('usage: make-image.ts DIR NAME:TAG [LAYER_MIB...]');
  process.exit(2);
}
const mib = (sizes.length ? sizes : ['8', '4', '1']).map(Number);
const image = await buildImageTar(
  dir,
  repoTag,
  mib.map((m, i) => ({ seed: `${repoTag}-${i}`, size: m * 1024 * 1024, kind: i % 2 ? ('text' as const) : ('random' as const) })),
);
console.log(image.tarPath);
