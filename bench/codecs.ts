/**
 * Each layer encoding on each layer of the real image, as dogestry runs it (size, encode and
 * decode CPU), beside the `lz4` and `zstd` tools on the same bytes: the numbers the default
 * compression is chosen from. Every figure is one process reading a file and writing to
 * /dev/null, timed by GNU time (user + system, threads included): ours (bench/codec-run.mjs,
 * on the built packages, with node's start and the codec's modules) exactly as the tools. The `none` rows are what
 * node pays to stream the bytes at all. Each figure is the median of `rounds` runs, every
 * encoding taking its turn in each round, so a machine whose speed drifts (this one moves by
 * ±25% within an hour) slows ours and the tools alike: one run each put the same code at
 * 1.29 and 1.45 of the tool's encode CPU in two bench runs.
 */
import { execFile } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COMPRESSIONS } from '@dogestry/core';
import { median } from './median.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const CODEC_RUN = join(import.meta.dirname, 'codec-run.mjs');
const KERNEL_C = join(import.meta.dirname, 'lz4-kernel.c');
const KERNEL_WASM = join(import.meta.dirname, 'lz4-kernel.mjs');

export interface CodecRow {
  readonly layer: string;
  readonly codec: string;
  readonly storedMiB: number;
  readonly encodeCpu: number;
  readonly decodeCpu: number;
}

/** CPU seconds (user + sys) of a command, from GNU time. */
async function cpu(command: string[]): Promise<number> {
  const { stderr } = await run('/usr/bin/time', ['-f', '__CPU__ %U %S', ...command], { maxBuffer: 64 << 20 });
  const m = /__CPU__ ([\d.]+) ([\d.]+)/.exec(stderr);
  if (!m) throw new Error(`no timing from ${command.join(' ')}: ${stderr}`);
  return Number(m[1]) + Number(m[2]);
}

interface Encoding {
  readonly codec: string;
  /** The command that encodes the layer into `out`. */
  readonly encode: (out: string) => string[];
  readonly decode: (input: string) => string[];
}

/** A tool's encode or decode as a shell pipeline (the tools write to stdout). */
const tool = (script: string) => ['bash', '-c', script];

export async function codecRows(layers: readonly { label: string; path: string }[], scratch: string, rounds = 3): Promise<CodecRow[]> {
  const rows: CodecRow[] = [];
  const node = [process.execPath, CODEC_RUN];
  for (const { label, path } of layers) {
    // Read once first, so no encoding is timed with the file still on disk.
    await run('bash', ['-c', `cat ${path} > /dev/null`]);
    // Each encoder timed to /dev/null, then run again into a file for its size and its decoder.
    const encodings: Encoding[] = [
      ...COMPRESSIONS.map((codec) => ({
        codec,
        encode: (out: string) => [...node, 'encode', codec, path, out],
        decode: (input: string) => [...node, 'decode', input, '/dev/null'],
      })),
      ...(['lz4', 'zstd'] as const).map((t) => ({
        codec: `${t} tool (-1)`,
        encode: (out: string) => tool(`${t} -1 -q -c ${path} > ${out}`),
        decode: (input: string) => tool(`${t} -d -q -c ${input} > /dev/null`),
      })),
      // The lz4 tool hashes every byte with xxh32 both ways by default (its frame's content
      // checksum: ~0.3 s of its ~0.75 s decoding layer 1); ours checks nothing here (pull and
      // push hash with sha256 apart from the codec). The goal is against the tool as it runs
      // by default; this row shows the difference.
      {
        codec: 'lz4 tool (-1, no checksum)',
        encode: (out: string) => tool(`lz4 -1 -q --no-frame-crc -c ${path} > ${out}`),
        decode: (input: string) => tool(`lz4 -d -q -c ${input} > /dev/null`),
      },
    ];
    // Each encoding's output once, for its size and its decoder; then the timed rounds.
    const stored = encodings.map((_, i) => join(scratch, `codec-${i}.out`));
    for (const [i, { encode }] of encodings.entries()) await cpu(encode(stored[i] as string));
    const times = encodings.map(() => ({ encode: [] as number[], decode: [] as number[] }));
    for (let round = 0; round < rounds; round++) {
      for (const [i, { encode, decode }] of encodings.entries()) {
        times[i]?.encode.push(await cpu(encode('/dev/null')));
        times[i]?.decode.push(await cpu(decode(stored[i] as string)));
      }
    }
    for (const [i, { codec }] of encodings.entries()) {
      const { size } = await stat(stored[i] as string);
      const { encode, decode } = times[i] as { encode: number[]; decode: number[] };
      rows.push({ layer: label, codec, storedMiB: size / MiB, encodeCpu: median(encode), decodeCpu: median(decode) });
    }
    await Promise.all(stored.map((file) => rm(file, { force: true })));
  }
  return rows;
}

/** One lz4 block kernel's pass over a layer in memory: the fastest of the rounds, in CPU seconds. */
export interface KernelRow {
  readonly kernel: 'liblz4' | 'ours-native' | 'ours-napi' | 'ours-wasm';
  readonly encode: number;
  readonly decode: number;
  readonly storedMiB: number;
}

/**
 * The lz4 kernels alone on one layer, in memory: the `lz4` tool's library and our C, built here
 * natively (bench/lz4-kernel.c), then our C as dogestry ships it, its Node-API build and its
 * WebAssembly build, called from node (bench/lz4-kernel.mjs). They split what our codec costs
 * against the tool into the algorithm (our C against the library, both native), the calls from
 * node (the Node-API build against the same C called from C) and WebAssembly (against native).
 * Each kernel's figure is the median over `rounds` runs (alternated) of the fastest of 3 passes.
 * The Node-API row is missing where dogestry has no native build (only linux-x64 has one).
 */
export async function kernelRows(layer: string, scratch: string, rounds = 3): Promise<KernelRow[]> {
  const native = join(scratch, 'lz4-kernel');
  // -O3 for x86-64 with no -march: as Debian builds the tool's library.
  await run('clang', ['-O3', '-w', '-o', native, KERNEL_C, '-l:liblz4.so.1']);
  const passes: Record<string, { encode: number[]; decode: number[]; stored: number }> = {};
  for (let round = 0; round < rounds; round++) {
    const outputs = [(await run(native, [layer, '3'])).stdout, (await run(process.execPath, [KERNEL_WASM, layer, '3'])).stdout];
    for (const line of outputs.join('').trim().split('\n')) {
      const [kernel, encode, decode, stored] = line.split(' ');
      const entry = (passes[kernel as string] ??= { encode: [], decode: [], stored: Number(stored) });
      entry.encode.push(Number(encode));
      entry.decode.push(Number(decode));
    }
  }
  return (['liblz4', 'ours-native', 'ours-napi', 'ours-wasm'] as const).flatMap((kernel) => {
    const entry = passes[kernel];
    if (!entry && kernel !== 'ours-napi') throw new Error(`lz4-kernel printed no ${kernel} line`);
    return entry ? [{ kernel, encode: median(entry.encode), decode: median(entry.decode), storedMiB: entry.stored / MiB }] : [];
  });
}
