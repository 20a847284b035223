import { type RemoteOptions, UsageError } from '@dogestry/core';
import { resolveDockerHost } from '@dogestry/core/internal';
import { Command, Flags } from '@oclif/core';
import { DogestryConfig } from './config.js';
import { CredentialStore } from './credentials.js';
import { ProgressRenderer } from './progress.js';

/** The flag of the commands that talk to a Docker engine (push, pull): only those offer it. */
export const engineFlags = {
  'docker-host': Flags.string({
    description: 'Docker engine to talk to (default: $DOCKER_HOST, [docker] connection in dogestry.cfg, unix:///var/run/docker.sock)',
  }),
};

/**
 * Shared flags and behaviour: --config, --docker-host, --quiet, --json; typed errors become
 * a one-line message on stderr (or an `error` object with --json) and the error's exit code.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    config: Flags.string({
      helpGroup: 'GLOBAL',
      description: 'dogestry.cfg to use (default: $DOGESTRY_CONFIG, ./dogestry.cfg, ~/.config/dogestry/dogestry.cfg)',
    }),
    // Accepted everywhere, so scripts may pass it to every command, but offered (in --help)
    // only by the commands that talk to an engine (engineFlags).
    'docker-host': Flags.string({ hidden: true }),
    quiet: Flags.boolean({ char: 'q', helpGroup: 'GLOBAL', description: 'no progress output' }),
  };

  /** Commands that create dogestry.cfg when the file named by --config does not exist yet. */
  static createsConfig = false;

  private cachedConfig: DogestryConfig | undefined;

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

  protected progress(flags: { quiet?: boolean | undefined; json?: boolean | undefined }): ProgressRenderer {
    return new ProgressRenderer(process.stderr, !flags.quiet && !flags.json && !this.jsonEnabled());
  }

  protected override async catch(thrown: Error & { exitCode?: number; code?: string; oclif?: { exit?: number } }): Promise<unknown> {
    let error = thrown;
    const dogestry = typeof error.exitCode === 'number' && typeof error.code === 'string' && 'retryable' in error;
    if (!dogestry) {
      if (error.oclif) {
        // --help, --version and deliberate exits are oclif's; anything else it throws is a
        // bad flag or argument: USAGE, exit 2, one JSON document under --json.
        if (error.code === 'EEXIT' || error.oclif.exit === 0) return super.catch(error);
        error = new UsageError(error.message.trim());
      } else {
        // An unexpected failure: a bug or an unclassified error. Say so, with the message.
        if (process.env.DOGESTRY_DEBUG) this.logToStderr(error.stack ?? '');
        if (this.jsonEnabled()) this.logJson({ error: { code: 'UNEXPECTED', message: error.message, retryable: false } });
        else this.logToStderr(`dogestry: unexpected error: ${error.message}`);
        process.exitCode = 1;
        return;
      }
    }
    if (this.jsonEnabled()) {
      // One document: a failure that carries a report (verify) gives it beside the error.
      const { report } = error as { report?: object };
      this.logJson({
        ...report,
        error: { code: error.code, message: error.message, retryable: (error as { retryable?: boolean }).retryable ?? false },
      });
    } else {
      this.logToStderr(`dogestry: ${error.message} [${error.code}]`);
    }
    process.exitCode = error.exitCode;
  }
}
