// Write oclif.manifest.json (every command's flags, args and help, cached) from the built
// commands in dist/: oclif then starts without importing every command file. Run at pack time
// (`prepack`); the file is removed again after packing (`postpack`) so a stale one never
// shadows the sources in the repository.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
await plugin.load();
const commands = Object.keys(plugin.manifest.commands);
if (commands.length === 0) throw new Error('no commands found: build first (npm run build)');
await writeFile(join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
console.error(`oclif.manifest.json: ${commands.length} commands`);
