/**
 * `pull --pull-hosts` with host agents (`dogestry serve`): each host that has one pulls for
 * itself, from the remote straight into its own engine, so this machine's link carries no
 * layer bytes; the others are loaded from this machine as before, all at once.
 *
 * Which hosts: `dogestry://HOST:PORT` names an agent; a `tcp://HOST:PORT` engine is asked
 * whether an agent answers on HOST:22375 (`serverPort`), but only when a server token is
 * configured (an agent beyond loopback always wants one). What the agent is handed: for an S3
 * remote, a pull ticket made for this pull with a short expiry (hosts hold no credentials),
 * sent only over TLS or to loopback, and made afresh once if a host reports it expired; for an
 * HTTP remote given by alias, that alias, which the host's own config must name (no
 * credentials are handed over); a directory on this machine is never delegated.
 */
import { type AgentTarget, agentInfo, agentPull } from './agent-client.js';
import { DogestryError, EngineUnreachableError, PartialPullError, UnsupportedError } from './errors.js';
import type { ProgressListener } from './progress.js';
import type { EnginePullResult, PullOptions, PullResult } from './pull.js';
import type { Remote } from './remote.js';
import { presign } from './ticket.js';
import { useRemote } from './transports.js';

export const DEFAULT_SERVER_PORT = 22375;
/** How long a ticket handed to a host works: long enough for a slow pull to start; a host whose ticket expires mid-pull asks again. */
const TICKET_SECONDS = 15 * 60;

export interface DelegationOptions {
  /** The agents' bearer token (DOGESTRY_SERVER_TOKEN or --server-token-file). Without it, tcp:// hosts are never asked. */
  readonly serverToken?: string | undefined;
  /** PEM CA to trust for agents: they are then reached over HTTPS. */
  readonly serverCa?: string | Buffer | undefined;
  /** Where agents listen next to a tcp:// engine (default 22375). */
  readonly serverPort?: number | undefined;
  /** The remote's alias as the caller named it: an HTTP remote is delegated by this name. */
  readonly remoteAlias?: string | undefined;
  /** Seconds a ticket works (default 900). */
  readonly ticketSeconds?: number | undefined;
}

interface Planned {
  readonly host: string;
  readonly agent?: AgentTarget;
  /** Set where an explicit agent cannot be used: that host fails with it. */
  readonly failure?: Error;
}

const isLoopbackHost = (host: string) => host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);

/** Which hosts have an agent that will pull for themselves. */
async function plan(hosts: readonly string[], delegation: DelegationOptions): Promise<Planned[]> {
  const scheme = delegation.serverCa ? 'https' : 'http';
  return Promise.all(
    hosts.map(async (host): Promise<Planned> => {
      const target = (hostPort: string): AgentTarget => ({
        url: `${scheme}://${hostPort}`,
        token: delegation.serverToken,
        ca: delegation.serverCa,
      });
      const explicit = /^dogestry:\/\/([^/]+?)\/?$/.exec(host);
      if (explicit) {
        const agent = target(explicit[1] as string);
        const info = await agentInfo(agent).catch((error: Error) => error);
        if (info instanceof Error) return { host, failure: info };
        if (!info) return { host, failure: new EngineUnreachableError(`no dogestry server answers at ${agent.url}`) };
        return { host, agent };
      }
      const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+)(?::\d+)?\/?$/.exec(host);
      if (!tcp || !delegation.serverToken) return { host };
      const agent = target(`${tcp[1]}:${delegation.serverPort ?? DEFAULT_SERVER_PORT}`);
      // An agent that refuses our token is still an agent: that host fails with AUTH, not silently the old way.
      const info = await agentInfo(agent, 2000).catch((error: Error) => error);
      if (info instanceof Error) return { host, failure: info };
      return info ? { host, agent } : { host };
    }),
  );
}

/**
 * Pull onto `hosts`, delegating to agents where they answer. `local` runs the ordinary pull
 * for the hosts without one (it is not called when there are none).
 */
export async function pullDelegating(
  options: PullOptions & { readonly dockerHosts: readonly string[] },
  local: (hosts: readonly string[]) => Promise<PullResult>,
): Promise<PullResult> {
  const delegation = options.delegation ?? {};
  const planned = await plan(options.dockerHosts, delegation);
  if (planned.every((p) => !p.agent && !p.failure)) return local(options.dockerHosts);
  await using selected = await useRemote(options);
  const remote = selected.remote;
  const source = sourceFor(remote, delegation);
  const agents: { host: string; agent: AgentTarget }[] = [];
  const direct: string[] = [];
  const failed: { host: string; error: Error }[] = [];
  for (const p of planned) {
    if (p.failure) failed.push({ host: p.host, error: p.failure });
    else if (!p.agent) direct.push(p.host);
    else if (source instanceof Error) {
      // An explicit agent we cannot hand the pull to fails; a probed one is loaded the old way.
      if (p.host.startsWith('dogestry:')) failed.push({ host: p.host, error: source });
      else direct.push(p.host);
    } else if (source === 'ticket' && p.agent.url.startsWith('http:') && !isLoopbackHost(new URL(p.agent.url).hostname)) {
      failed.push({
        host: p.host,
        error: new UnsupportedError(
          `a pull ticket travels only over TLS or to loopback, and ${p.agent.url} is plain HTTP: give --server-ca so the agent is reached over HTTPS`,
        ),
      });
    } else agents.push({ host: p.host, agent: p.agent });
  }
  const emit = options.onProgress;
  let ticket: Awaited<ReturnType<typeof presign>>['ticket'] | undefined;
  const freshTicket = async () =>
    (ticket = (await presign({ remote, image: options.image, expiresIn: delegation.ticketSeconds ?? TICKET_SECONDS, store: false }))
      .ticket);
  const body = async (fresh: boolean) =>
    source === 'ticket'
      ? { image: options.image, ticket: fresh || !ticket ? await freshTicket() : ticket }
      : { image: options.image, remote: delegation.remoteAlias as string };

  const delegated = agents.map(async ({ host, agent }): Promise<PullResult> => {
    emit?.({ type: 'host', host, state: 'start' });
    const follow = hostEvents(host, emit);
    try {
      return await agentPull(agent, await body(false), follow, options.signal);
    } catch (error) {
      // A ticket that expired before this host got to it: once more with a new one.
      if (!(error instanceof DogestryError) || error.code !== 'EXPIRED' || source !== 'ticket') throw error;
      return agentPull(agent, await body(true), follow, options.signal);
    }
  });
  const localRun = direct.length > 0 ? local(direct) : undefined;
  const [localOutcome, ...agentOutcomes] = await Promise.allSettled([localRun ?? Promise.resolve(undefined), ...delegated]);

  const engines: EnginePullResult[] = [];
  let base: PullResult | undefined;
  if (localRun && localOutcome) {
    if (localOutcome.status === 'fulfilled' && localOutcome.value) {
      base = localOutcome.value;
      engines.push(...base.engines);
    } else if (localOutcome.status === 'rejected') {
      const report = (localOutcome.reason as DogestryError).report as PullResult | undefined;
      if (report?.engines) {
        base = report;
        engines.push(...report.engines);
      } else for (const host of direct) failed.push({ host, error: localOutcome.reason as Error });
    }
  }
  for (const [i, outcome] of agentOutcomes.entries()) {
    const host = agents[i]?.host as string;
    if (outcome.status === 'fulfilled') {
      const result = outcome.value as PullResult;
      base ??= { ...result, bytesDownloaded: 0, engines: [] };
      const own = result.engines[0];
      engines.push({
        engine: host,
        layersLoaded: own?.layersLoaded ?? 0,
        layersPresent: own?.layersPresent ?? 0,
        alreadyPresent: own?.alreadyPresent ?? false,
        delegated: { bytesDownloaded: result.bytesDownloaded },
        ...(own?.error ? { error: own.error } : {}),
      });
      emit?.({ type: 'host', host, state: 'done', bytes: result.bytesDownloaded, layers: own?.layersLoaded ?? 0 });
    } else {
      failed.push({ host, error: outcome.reason as Error });
      emit?.({ type: 'host', host, state: 'failed', message: (outcome.reason as Error).message });
    }
  }
  for (const { host, error } of failed) {
    const code = (error as { code?: string }).code ?? 'UNEXPECTED';
    engines.push({ engine: host, error: { code, message: error.message }, layersLoaded: 0, layersPresent: 0, alreadyPresent: false });
  }
  const order = new Map(options.dockerHosts.map((h, i) => [h, i]));
  engines.sort((a, b) => (order.get(a.engine) ?? 0) - (order.get(b.engine) ?? 0));
  const firstFailure = failed[0]?.error;
  if (!base) throw firstFailure ?? new UnsupportedError('no host was loaded');
  const result: PullResult = { ...base, remote: remote.url, engines };
  const failures = engines.filter((e) => e.error);
  if (failures.length === 0) return result;
  if (failures.length === engines.length && firstFailure) throw firstFailure;
  throw new PartialPullError(
    `loaded ${result.image ?? result.imageId} onto ${engines.length - failures.length} of ${engines.length} hosts; failed: ${failures
      .map((f) => `${f.engine} (${f.error?.code}: ${f.error?.message})`)
      .join('; ')}`,
    { report: result },
  );
}

/** How agents get the remote: a ticket (S3), the alias (HTTP), or why they cannot. */
function sourceFor(remote: Remote, delegation: DelegationOptions): 'ticket' | 'alias' | Error {
  if (remote.presign) return 'ticket';
  if (/^https?:/.test(remote.url) && delegation.remoteAlias) return 'alias';
  return new UnsupportedError(
    /^https?:/.test(remote.url)
      ? `an http(s) remote is delegated by its alias, which the host's dogestry.cfg must name: name the remote by its alias`
      : `${remote.url} is on this machine: a dogestry server on another host cannot pull from it`,
  );
}

/** A host's progress as `host` events: its stored bytes downloaded so far (its layer events would mix with other hosts'). */
function hostEvents(host: string, emit: ProgressListener | undefined): ProgressListener {
  const layers = new Map<string, number>();
  return (event) => {
    if (event.type === 'repair' || event.type === 'wait') emit?.({ ...event, reason: `${host}: ${event.reason}` });
    if (event.type === 'layer-progress' || event.type === 'layer-done') {
      layers.set(event.diffId, event.bytes);
      emit?.({ type: 'host', host, state: 'progress', bytes: [...layers.values()].reduce((a, b) => a + b, 0) });
    }
  };
}
