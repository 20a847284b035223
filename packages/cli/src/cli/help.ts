/**
 * --help text, made from what commands declare (spec.ts): the root list of commands, a topic's
 * commands (`dogestry remote --help`), and one command's usage, arguments, flags, description
 * and examples. Wrapped to the terminal (80 columns when not a terminal, at most 100).
 */
import type { ArgSpecs, CommandSpec, Flag, FlagSpecs } from './spec.js';

const width = (): number => Math.min(Math.max(process.stdout.columns || 80, 60), 100);

/** Word-wraps text to the width, every line indented; lines that start with a space are kept as written (commands, code). */
function wrap(text: string, indent: number, first = indent): string[] {
  const lines: string[] = [];
  const room = width() - indent;
  for (const paragraph of text.split('\n')) {
    if (/^\s/.test(paragraph) || paragraph === '') {
      lines.push(paragraph === '' ? '' : ' '.repeat(indent) + paragraph);
      continue;
    }
    let line = '';
    for (const word of paragraph.split(/ +/)) {
      if (line && line.length + 1 + word.length > room) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines.map((l, i) => (l === '' || /^\s/.test(l) ? l : ' '.repeat(i === 0 ? first : indent) + l));
}

/** Two columns: names on the left, their text wrapped on the right (below, when a name is long). */
function columns(rows: readonly (readonly [string, string])[]): string[] {
  const left = Math.min(Math.max(...rows.map(([name]) => name.length)), 30) + 4;
  const lines: string[] = [];
  for (const [name, text] of rows) {
    if (name.length + 4 > left) {
      lines.push(`  ${name}`);
      lines.push(...wrap(text, left));
    } else {
      const [head = '', ...rest] = wrap(text, left, 0);
      lines.push(`  ${name.padEnd(left - 2)}${head}`, ...rest);
    }
  }
  return lines;
}

function section(title: string, body: readonly string[]): string[] {
  return body.length ? [title, ...body, ''] : [];
}

function usageOf(id: string, spec: CommandSpec): string {
  if (spec.usage) return `dogestry ${spec.usage}`;
  const names = Object.entries(spec.args ?? {}).map(([name, arg], i, all) => {
    const shown = name.toUpperCase() + (spec.variadic && i === all.length - 1 ? '...' : '');
    return arg.required ? shown : `[${shown}]`;
  });
  return ['dogestry', id, ...names, '[FLAGS]'].join(' ');
}

function flagRows(flags: FlagSpecs): [string, string][] {
  const anyChar = Object.values(flags).some((f) => f.char);
  return Object.entries(flags)
    .filter(([, flag]) => !flag.hidden)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, flag]) => {
      const value = flag.kind === 'boolean' ? '' : flag.kind === 'integer' ? '=<n>' : flag.options ? '=<option>' : '=<value>';
      const short = flag.char ? `-${flag.char}, ` : anyChar ? '    ' : '';
      return [`${short}--${name}${value}`, describe(flag)];
    });
}

function describe(flag: Flag): string {
  const given = flag.kind !== 'boolean' && flag.default !== undefined ? `[default: ${flag.default}] ` : '';
  const options = flag.kind === 'string' && flag.options ? ` (one of ${flag.options.join(', ')})` : '';
  return `${given}${flag.description}${options}`;
}

function argRows(args: ArgSpecs, variadic: boolean): [string, string][] {
  const entries = Object.entries(args);
  return entries.map(([name, arg], i) => [name.toUpperCase() + (variadic && i === entries.length - 1 ? '...' : ''), arg.description]);
}

/** One command's help. `globals` are the flags every command takes. */
export function commandHelp(id: string, spec: CommandSpec, globals: FlagSpecs): string {
  const own = spec.flags ?? {};
  const global = Object.fromEntries(Object.entries(globals).filter(([name]) => !(name in own)));
  const lines = [
    ...wrap(spec.summary, 0),
    '',
    ...section('USAGE', [`  $ ${usageOf(id, spec)}`]),
    ...section('ARGUMENTS', columns(argRows(spec.args ?? {}, spec.variadic ?? false))),
    ...section('FLAGS', columns(flagRows(own))),
    ...section('GLOBAL FLAGS', columns(flagRows(global))),
    ...section('DESCRIPTION', spec.description ? wrap(spec.description, 2) : []),
    ...section(
      'EXAMPLES',
      (spec.examples ?? []).map((e) => `  $ ${e}`),
    ),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

export interface Listing {
  readonly id: string;
  readonly summary: string;
}

/** The list of commands: the root's, or a topic's (`remote`). */
export function listHelp(heading: string, usage: string, commands: readonly Listing[], footer: string): string {
  const lines = [
    ...wrap(heading, 0),
    '',
    ...section('USAGE', [`  $ ${usage}`]),
    ...section('COMMANDS', columns(commands.map((c) => [c.id, c.summary]))),
    ...wrap(footer, 0),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}
