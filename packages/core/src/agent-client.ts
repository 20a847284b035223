/**
 * The client of a host agent (`dogestry serve`, protocol v1: docs/SERVER.md): is one there,
 * and run a pull on it, following its NDJSON progress to the last `result` or `error` line.
 */
import type { IncomingMessage } from 'node:http';
import { AuthError, DogestryError, EngineUnreachableError, ExpiredError, TransportError } from './errors.js';
import { http, https } from './node-http.js';
import type { ProgressEvent } from './progress.js';
import type { PullResult } from './pull.js';
import type { PullTicket } from './ticket.js';

export interface AgentTarget {
  /** `http(s)://host:port` of the agent. */
  readonly url: string;
  readonly token?: string | undefined;
  /** PEM CA to trust for an https agent. */
  readonly ca?: string | Buffer | undefined;
}

export interface AgentInfo {
  readonly dogestry: string;
  readonly protocol: number;
}

/** What the agent asks its engine to pull: through a ticket, or from a remote its own config names. */
export type AgentPullBody = { readonly image: string; readonly ticket: PullTicket } | { readonly image: string; readonly remote: string };

/** An error the agent reported, with its code (EXPIRED, AUTH, NOT_FOUND, …). */
export class AgentPullError extends DogestryError {
  static override readonly code: string = 'AGENT';
  constructor(
    readonly agentCode: string,
    message: string,
    options: { retryable?: boolean } = {},
  ) {
    super(message, options);
  }
  override get code(): string {
    return this.agentCode;
  }
}

/** The agent's info, or undefined if nothing (or no agent) answers within `timeoutMs`. A wrong token is AUTH. */
export async function agentInfo(target: AgentTarget, timeoutMs = 3000): Promise<AgentInfo | undefined> {
  let response: IncomingMessage;
  try {
    response = await send(target, 'GET', '/v1/info', undefined, AbortSignal.timeout(timeoutMs));
  } catch {
    return undefined;
  }
  const body = await readBody(response).catch(() => '');
  if (response.statusCode === 401) throw new AuthError(`the dogestry server at ${target.url} refused the token: ${messageOf(body)}`);
  if (response.statusCode !== 200) return undefined;
  try {
    const info = JSON.parse(body) as AgentInfo;
    return info.protocol === 1 ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Run a pull on the agent; each of its progress events goes to `onEvent`. */
export async function agentPull(
  target: AgentTarget,
  body: AgentPullBody,
  onEvent: (event: ProgressEvent) => void,
  signal?: AbortSignal,
): Promise<PullResult> {
  let response: IncomingMessage;
  try {
    response = await send(target, 'POST', '/v1/pulls', Buffer.from(JSON.stringify(body)), signal);
  } catch (error) {
    throw new EngineUnreachableError(`the dogestry server at ${target.url} cannot be reached: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (response.statusCode !== 200) {
    const text = await readBody(response).catch(() => '');
    const code = codeOf(text) ?? (response.statusCode === 401 ? 'AUTH' : response.statusCode === 410 ? 'EXPIRED' : 'AGENT');
    if (code === 'AUTH') throw new AuthError(`the dogestry server at ${target.url} refused: ${messageOf(text)}`);
    if (code === 'EXPIRED') throw new ExpiredError(`the dogestry server at ${target.url}: ${messageOf(text)}`);
    throw new AgentPullError(code, `the dogestry server at ${target.url}: ${messageOf(text)}`);
  }
  let last: { type: string; result?: PullResult; error?: { code: string; message: string; retryable?: boolean } } | undefined;
  let pending = '';
  try {
    for await (const chunk of response) {
      pending += (chunk as Buffer).toString('utf8');
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line) as NonNullable<typeof last>;
        if (event.type === 'result' || event.type === 'error') last = event;
        else onEvent(event as unknown as ProgressEvent);
      }
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new TransportError(`the dogestry server at ${target.url} went away mid-pull: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  }
  if (last?.type === 'result' && last.result) return last.result;
  if (last?.error) {
    const { code, message } = last.error;
    if (code === 'EXPIRED') throw new ExpiredError(`on ${target.url}: ${message}`);
    throw new AgentPullError(code, `on ${target.url}: ${message}`, { retryable: last.error.retryable ?? false });
  }
  throw new TransportError(`the dogestry server at ${target.url} went away mid-pull (no result)`, { retryable: true });
}

function send(target: AgentTarget, method: string, path: string, body: Buffer | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
  const url = new URL(path, target.url);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (target.token) headers.Authorization = `Bearer ${target.token}`;
  if (body) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(body.length);
  }
  const options = { method, headers, ...(signal ? { signal } : {}) };
  return new Promise((resolve, reject) => {
    const request =
      url.protocol === 'https:'
        ? https.request(url, { ...options, ...(target.ca ? { ca: target.ca } : {}) }, resolve)
        : http.request(url, options, resolve);
    request.on('error', reject);
    request.end(body);
  });
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').slice(0, 4096);
}

function codeOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function messageOf(text: string): string {
  try {
    return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
  } catch {
    return text || 'no answer';
  }
}
