/**
 * How a command declares its arguments and flags, and the types its parsed values get. The
 * declarations are plain data: the parser (parse.ts) and the help (help.ts) both read them.
 */

interface FlagCommon {
  readonly description: string;
  /** One-letter alias: `-q` for `--quiet`. */
  readonly char?: string;
  /** Accepted, but not shown in --help. */
  readonly hidden?: boolean;
  /** Shown under GLOBAL FLAGS rather than FLAGS. */
  readonly global?: boolean;
}
export interface StringFlag extends FlagCommon {
  readonly kind: 'string';
  readonly default?: string;
  readonly options?: readonly string[];
}
export interface BooleanFlag extends FlagCommon {
  readonly kind: 'boolean';
}
export interface IntegerFlag extends FlagCommon {
  readonly kind: 'integer';
  readonly default?: number;
}
export type Flag = StringFlag | BooleanFlag | IntegerFlag;
export type FlagSpecs = Readonly<Record<string, Flag>>;

export interface Arg {
  readonly description: string;
  readonly required?: boolean;
}
export type ArgSpecs = Readonly<Record<string, Arg>>;

export const Flags = {
  string: <const F extends Omit<StringFlag, 'kind'>>(flag: F): F & { readonly kind: 'string' } => ({ ...flag, kind: 'string' }),
  boolean: <const F extends Omit<BooleanFlag, 'kind'>>(flag: F): F & { readonly kind: 'boolean' } => ({ ...flag, kind: 'boolean' }),
  integer: <const F extends Omit<IntegerFlag, 'kind'>>(flag: F): F & { readonly kind: 'integer' } => ({ ...flag, kind: 'integer' }),
};

export const Args = {
  string: <const A extends Arg>(arg: A): A => arg,
};

/** A boolean is false when absent; a flag with a default always has a value. */
export type FlagValues<T extends FlagSpecs> = {
  -readonly [K in keyof T]: T[K] extends { kind: 'boolean' }
    ? boolean
    : T[K] extends { kind: 'integer' }
      ? T[K] extends { default: number }
        ? number
        : number | undefined
      : T[K] extends { default: string }
        ? string
        : string | undefined;
};

export type ArgValues<T extends ArgSpecs> = { -readonly [K in keyof T]: T[K] extends { required: true } ? string : string | undefined };

/** What a command declares about itself: read by the parser and by --help. */
export interface CommandSpec {
  readonly summary: string;
  readonly description?: string | undefined;
  readonly examples?: readonly string[];
  /** The usage line after `dogestry`, where the one made from args and flags would mislead. */
  readonly usage?: string | undefined;
  readonly args?: ArgSpecs;
  readonly flags?: FlagSpecs;
  /** The last argument takes any number of values (IMAGE...). */
  readonly variadic?: boolean;
}
