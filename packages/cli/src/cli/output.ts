/**
 * What a command prints: text for people, or under --json exactly one JSON document on stdout,
 * whether the command succeeds or fails. A failure is one line on stderr (or an `error` object)
 * and the exit code the README's table gives its code.
 */

/** What a DogestryError carries. */
interface Typed {
  code: string;
  exitCode: number;
  retryable: boolean;
  report: object | undefined;
}

export class Output {
  constructor(readonly json: boolean) {}

  /** A line for people on stdout; under --json the document says it instead. */
  log(message: string): void {
    if (!this.json) process.stdout.write(`${message}\n`);
  }

  /** A line for people on stderr; under --json the document says it instead. */
  logToStderr(message: string): void {
    if (!this.json) process.stderr.write(`${message}\n`);
  }

  document(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Reports a failure and sets the exit code; an unclassified one is a bug, exit 1. */
  fail(thrown: unknown): void {
    const error = (thrown instanceof Error ? thrown : new Error(String(thrown))) as Error & Partial<Typed>;
    // Typed by shape, not by class: a DogestryError from another copy of core counts too.
    if (typeof error.exitCode !== 'number' || typeof error.code !== 'string' || typeof error.retryable !== 'boolean') {
      if (process.env.DOGESTRY_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`);
      if (this.json) this.document({ error: { code: 'UNEXPECTED', message: error.message, retryable: false } });
      else this.logToStderr(`dogestry: unexpected error: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    // One document: a failure that carries a report (verify) gives it beside the error.
    if (this.json) this.document({ ...error.report, error: { code: error.code, message: error.message, retryable: error.retryable } });
    else this.logToStderr(`dogestry: ${error.message} [${error.code}]`);
    process.exitCode = error.exitCode;
  }
}

/**
 * A USAGE error (exit 2) before any command is loaded: shaped as core's UsageError, which
 * `fail` recognises by shape, without loading core for a mistyped command.
 */
export const usageError = (message: string): Error & Typed =>
  Object.assign(new Error(message), { code: 'USAGE', exitCode: 2, retryable: false, report: undefined });

/** Whether --json is among the flags (before any `--`). */
export const wantsJson = (argv: readonly string[]): boolean => flagsOf(argv).includes('--json');

/** Whether --help or -h is among the flags (before any `--`). */
export const wantsHelp = (argv: readonly string[]): boolean => flagsOf(argv).some((a) => a === '--help' || a === '-h');

function flagsOf(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}
