/**
 * Each layer encoding on each layer of the real image, as dogestry runs it (size, encode and
 * decode CPU of this process, thread pool included), beside the `lz4` and `zstd` tools on the
 * same bytes: the numbers the default compression is chosen from.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { COMPRESSIONS } from '@dogestry/core';
import { decode, encoderFor } from '@dogestry/core/internal';

const run = promisify(execFile);
const MiB = 1024 * 1024;

export interface CodecRow {
  readonly layer: string;
  readonly codec: string;
  readonly storedMiB: number;
  readonly encodeCpu: number;
  readonly decodeCpu: number;
}

const cpuSeconds = (before: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
};

/** CPU seconds (user + sys) of a shell command, from GNU time. */
async function toolCpu(script: string): Promise<number> {
  const { stderr } = await run('/usr/bin/time', ['-f', '__CPU__ %U %S', 'bash', '-c', script], { maxBuffer: 64 << 20 });
  const m = /__CPU__ ([\d.]+) ([\d.]+)/.exec(stderr);
  return m ? Number(m[1]) + Number(m[2]) : Number.NaN;
}

export async function codecRows(layers: readonly { label: string; path: string }[], scratch: string): Promise<CodecRow[]> {
  const rows: CodecRow[] = [];
  for (const { label, path } of layers) {
    // Read once first, so no encoding is timed with the file still on disk.
    await pipeline(createReadStream(path), new Writable({ write: (_c, _e, cb) => cb() }));
    for (const codec of COMPRESSIONS) {
      const stored: Buffer[] = [];
      let before = process.cpuUsage();
      await pipeline(
        createReadStream(path, { highWaterMark: 256 * 1024 }),
        encoderFor(codec),
        new Writable({
          write: (chunk: Buffer, _e, cb) => {
            stored.push(chunk);
            cb();
          },
        }),
      );
      const encodeCpu = cpuSeconds(before);
      const storedBytes = stored.reduce((sum, b) => sum + b.length, 0);
      before = process.cpuUsage();
      await pipeline(Readable.from(stored), decode, new Writable({ write: (_c, _e, cb) => cb() }));
      rows.push({ layer: label, codec, storedMiB: storedBytes / MiB, encodeCpu, decodeCpu: cpuSeconds(before) });
    }
    const out = `${scratch}/tool.out`;
    for (const [codec, tool] of [
      ['lz4 tool (-1)', 'lz4'],
      ['zstd tool (-1)', 'zstd'],
    ] as const) {
      // Timed to /dev/null, as ours keeps its output in memory; then once more to a file for its size.
      const encodeCpu = await toolCpu(`${tool} -1 -q -c ${path} > /dev/null`);
      await run('bash', ['-c', `${tool} -1 -q -c ${path} > ${out}`]);
      const size = (await stat(out)).size;
      const decodeCmd = `${tool} -d -q -c ${out} > /dev/null`;
      rows.push({ layer: label, codec, storedMiB: size / MiB, encodeCpu, decodeCpu: await toolCpu(decodeCmd) });
    }
  }
  return rows;
}
