#!/usr/bin/env -S node --initial-old-space-size=64
// The flag: with the CLI's small old generation (~8 MiB after start-up) and a young generation
// grown to 16 MiB while loading modules, V8 starts a full mark-compact every ~1 MiB promoted:
// a 1 GiB push ran ~60 of them, pull ~40, and their marking threads took CPU from the engine
// on a 2-core machine. A 64 MiB starting limit leaves 2-3; measured 1 GiB push 8.70 -> 7.96 s,
// pull 8.04 -> 7.64 s (medians of 5, interleaved), peak RSS within the 200 MiB budget.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`dogestry: needs Node.js 22.19 or later (24 LTS recommended); this is ${process.version}\n`);
  process.exit(1);
}
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
