import type { RemoteOptions } from '@dogestry/core';
import { resolveDockerHost } from '@dogestry/core/lib/docker/connection';
import { Output, wantsJson } from './cli/output.js';
import { parse } from './cli/parse.js';
import { type ArgSpecs, type ArgValues, type FlagSpecs, Flags, type FlagValues } from './cli/spec.js';
import { DogestryConfig } from './config.js';
import { CredentialStore } from './credentials.js';
import { ProgressRenderer } from './progress.js';

/** The flag of the commands that talk to a Docker engine (push, pull): only those offer it. */
export const engineFlags = {
  'docker-host': Flags.string({
    description: 'Docker engine to talk to (default: $DOCKER_HOST, [docker] connection in dogestry.cfg, unix:///var/run/docker.sock)',
  }),
};

/** Every command takes these. */
export const baseFlags = {
  config: Flags.string({
    global: true,
    description: 'dogestry.cfg to use (default: $DOGESTRY_CONFIG, ./dogestry.cfg, ~/.config/dogestry/dogestry.cfg)',
  }),
  // Accepted everywhere, so scripts may pass it to every command, but offered (in --help)
  // only by the commands that talk to an engine (engineFlags).
  'docker-host': Flags.string({ hidden: true, description: 'Docker engine to talk to' }),
  quiet: Flags.boolean({ char: 'q', global: true, description: 'no progress output' }),
  json: Flags.boolean({ global: true, description: 'print one JSON document on stdout, on success and on failure' }),
};

/** Where a command runs: its id and the CLI's version. */
export interface CommandContext {
  readonly id: string;
  readonly version: string;
}

/** What the dispatcher needs of a command class: its declaration and a way to run it. */
export interface CommandClass {
  readonly summary: string;
  readonly description?: string | undefined;
  readonly examples: readonly string[];
  readonly usage?: string | undefined;
  readonly args: ArgSpecs;
  readonly flags: FlagSpecs;
  readonly variadic: boolean;
  new (argv: readonly string[], context: CommandContext): BaseCommand;
}

type Values<T extends object, V> = string extends keyof T ? object : V;

/**
 * A command: its declaration as static fields, and the shared behaviour: --config, --quiet,
 * --json, remotes resolved through dogestry.cfg and the credential store; a typed error becomes
 * one line on stderr (or an `error` object under --json) and that error's exit code.
 */
export abstract class BaseCommand {
  static summary = '';
  static description: string | undefined;
  static examples: readonly string[] = [];
  static usage: string | undefined;
  static args: ArgSpecs = {};
  static flags: FlagSpecs = {};
  /** The last argument takes any number of values. */
  static variadic = false;
  /** Commands that create dogestry.cfg when the file named by --config does not exist yet. */
  static createsConfig = false;

  private readonly output: Output;
  private cachedConfig: DogestryConfig | undefined;

  constructor(
    readonly argv: readonly string[],
    readonly context: CommandContext,
  ) {
    this.output = new Output(wantsJson(argv));
  }

  abstract run(): Promise<unknown>;

  /** Runs the command: its result is the --json document; a failure is reported, never thrown. */
  async execute(): Promise<void> {
    try {
      const result = await this.run();
      if (result !== undefined && this.jsonEnabled()) this.logJson(result);
    } catch (error) {
      this.output.fail(error);
    }
  }

  protected parse<C extends { args: ArgSpecs; flags: FlagSpecs; variadic: boolean }>(
    command: C,
  ): {
    args: Values<C['args'], ArgValues<C['args']>>;
    argv: string[];
    flags: Values<C['flags'], FlagValues<C['flags']>> & FlagValues<typeof baseFlags>;
  } {
    const parsed = parse(this.argv, {
      args: command.args,
      flags: { ...baseFlags, ...command.flags },
      variadic: command.variadic,
      command: `dogestry ${this.context.id}`,
    });
    return parsed as never;
  }

  jsonEnabled(): boolean {
    return this.output.json;
  }

  log(message = ''): void {
    this.output.log(message);
  }

  logToStderr(message = ''): void {
    this.output.logToStderr(message);
  }

  logJson(value: unknown): void {
    this.output.document(value);
  }

  protected dogestryConfig(path: string | undefined): DogestryConfig {
    this.cachedConfig ??= DogestryConfig.load(path, { willCreate: (this.constructor as typeof BaseCommand).createsConfig });
    return this.cachedConfig;
  }

  protected dockerHost(flags: { 'docker-host'?: string | undefined; config?: string | undefined }): string | undefined {
    return resolveDockerHost(flags['docker-host'], process.env, this.dogestryConfig(flags.config).section('docker').connection);
  }

  /** Resolve a REMOTE argument (alias or URL/path) into what core's functions take. */
  protected remote(argument: string, flags: { config?: string | undefined }): { remote: string; remoteOptions: RemoteOptions } {
    const resolved = this.dogestryConfig(flags.config).resolveRemote(argument);
    const credentials = /^(s3|https?):/.test(resolved.url) ? CredentialStore.load().get(resolved.url) : undefined;
    return {
      remote: resolved.url,
      remoteOptions: { settings: resolved.settings, env: process.env, ...(credentials ? { credentials } : {}) },
    };
  }

  protected progress(flags: { quiet?: boolean | undefined }): ProgressRenderer {
    return new ProgressRenderer(process.stderr, !flags.quiet && !this.jsonEnabled());
  }
}
