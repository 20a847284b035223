/**
 * Command-line parsing against a command's declared args and flags. Flags may come anywhere
 * (`--name value`, `--name=value`, `-c value`, `-cvalue`); everything after `--` is an argument.
 * Anything the declaration does not allow is a UsageError (USAGE, exit 2) naming it.
 */
import { UsageError } from '@dogestry/core/errors';
import type { ArgSpecs, Flag, FlagSpecs } from './spec.js';

export interface Parsed {
  args: Record<string, string | undefined>;
  /** Every argument, in order (the variadic tail included). */
  argv: string[];
  flags: Record<string, string | number | boolean | undefined>;
}

export interface ParseSpec {
  readonly args: ArgSpecs;
  readonly flags: FlagSpecs;
  readonly variadic: boolean;
  /** `dogestry push`, for the hint at the end of each error. */
  readonly command: string;
}

export function parse(argv: readonly string[], spec: ParseSpec): Parsed {
  const hint = ` (see \`${spec.command} --help\`)`;
  const byChar = new Map<string, string>();
  for (const [name, flag] of Object.entries(spec.flags)) if (flag.char) byChar.set(flag.char, name);

  const positionals: string[] = [];
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    let shown: string;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      name = eq < 0 ? token.slice(2) : token.slice(2, eq);
      inline = eq < 0 ? undefined : token.slice(eq + 1);
      shown = `--${name}`;
    } else if (/^-[^-]/.test(token)) {
      name = byChar.get(token[1] as string);
      shown = token.slice(0, 2);
      if (name === undefined) throw new UsageError(`unknown flag ${shown}${hint}`);
      inline = token.length > 2 ? token.slice(2).replace(/^=/, '') : undefined;
    } else {
      positionals.push(token);
      continue;
    }
    const flag = Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined;
    if (flag === undefined) throw new UsageError(`unknown flag ${shown}${hint}`);
    if (given.has(name)) throw new UsageError(`--${name} is given twice: give it once${hint}`);
    if (flag.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value (got "${inline}")${hint}`);
      given.set(name, true);
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value${hint}`);
      inline = next;
      i++;
    }
    given.set(name, inline);
  }

  const flags: Parsed['flags'] = {};
  for (const [name, flag] of Object.entries(spec.flags)) flags[name] = value(name, flag, given.get(name), hint);

  const names = Object.keys(spec.args);
  const args: Parsed['args'] = {};
  for (const [index, name] of names.entries()) {
    const arg = spec.args[name];
    if (positionals[index] === undefined && arg?.required) {
      throw new UsageError(`missing ${name.toUpperCase()}: ${arg.description}${hint}`);
    }
    args[name] = positionals[index];
  }
  if (!spec.variadic && positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"${hint}`);
  }
  return { args, argv: positionals, flags };
}

function value(name: string, flag: Flag, given: string | true | undefined, hint: string): string | number | boolean | undefined {
  if (flag.kind === 'boolean') return given === true;
  if (given === undefined || given === true) return flag.default;
  if (flag.kind === 'integer') {
    if (!/^-?\d+$/.test(given)) throw new UsageError(`--${name} takes a whole number (got "${given}")${hint}`);
    return Number(given);
  }
  if (flag.options && !flag.options.includes(given)) {
    throw new UsageError(`--${name} must be one of ${flag.options.join(', ')} (got "${given}")${hint}`);
  }
  return given;
}
