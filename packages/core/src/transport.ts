/**
 * @dogestry/core/transport: what a transport package needs. A transport exports
 * `createRemote(url, options): Remote` and passes the conformance suite
 * (`@dogestry/core/conformance`); see the `Remote` contract in remote.ts.
 */

export * from './errors.js';
export { MemoryRemote } from './memory-remote.js';
export {
  assertSafeKey,
  type DeleteOptions,
  type ReadOptions,
  type Remote,
  type RemoteCapabilities,
  type RemoteFactory,
  type RemoteOptions,
  type StatResult,
  type SweepResult,
  type WriteOptions,
} from './remote.js';
export { resumingBody, resumingRead } from './resume.js';
export { pump } from './streams.js';
export { isPullTicket, type PullTicket } from './ticket.js';
