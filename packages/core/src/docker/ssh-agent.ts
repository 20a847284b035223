import { spawn } from 'node:child_process';
import type { AgentOptions } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { http } from '../node-http.js';

/** What ssh said on stderr, kept for the error when a connection fails. */
const STDERR_KEPT = 4096;

/**
 * An HTTP agent whose connections are `ssh … docker system dial-stdio` processes: the request
 * goes to the process's stdin, the answer comes from its stdout, as the docker CLI does for
 * `ssh://` hosts. Idle connections stay open for the next request (keep-alive) without holding
 * the process open; a connection that fails carries ssh's own words (`Permission denied
 * (publickey)`, `docker: command not found`).
 */
export class SshAgent extends http.Agent {
  constructor(
    private readonly command: readonly string[],
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(): Socket {
    const [file, ...args] = this.command;
    const child = spawn(file as string, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_KEPT);
    });
    const failed = (message: string): Error =>
      Object.assign(new Error(`${message}${stderr.trim() ? `: ${stderr.trim()}` : ''}`), { code: 'ESSH' });
    const socket = new Duplex({
      read: () => child.stdout.resume(),
      write: (chunk, _encoding, callback) => child.stdin.write(chunk, callback),
      final: (callback) => child.stdin.end(callback),
      destroy: (error, callback) => {
        if (child.exitCode === null && child.signalCode === null) child.kill();
        callback(error);
      },
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!socket.push(chunk)) child.stdout.pause();
    });
    child.stdin.on('error', () => {}); // ssh gone: its exit, below, says why
    child.once('error', (error: NodeJS.ErrnoException) => socket.destroy(failed(`cannot run ${file} (${error.code ?? error.message})`)));
    // The stream ends only when ssh has exited, so a failed login is an error with ssh's words,
    // not an empty answer.
    child.once('close', (code, signal) => {
      if (socket.destroyed) return;
      if (code === 0 && !signal) socket.push(null);
      else socket.destroy(failed(`${file} exited with ${signal ?? `code ${code}`}`));
    });
    // What the HTTP client calls on a net.Socket: keep-alive and idle handling, and ref/unref,
    // which here must reach the process and its pipes, or an idle connection keeps Node alive.
    const handles = [child, child.stdin, child.stdout, child.stderr] as { ref(): void; unref(): void }[];
    // setTimeout as net.Socket has it: 'timeout' after `ms` with no bytes either way.
    let idleMs = 0;
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      if (timer) clearTimeout(timer);
      timer = idleMs > 0 && !socket.destroyed ? setTimeout(() => socket.emit('timeout'), idleMs).unref() : undefined;
    };
    child.stdout.on('data', touch);
    child.stdin.on('drain', touch);
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.once('close', () => clearTimeout(timer));
    Object.assign(socket, {
      write: (...args: unknown[]) => {
        touch();
        return write(...args);
      },
      setKeepAlive: () => socket,
      setNoDelay: () => socket,
      setTimeout: (ms: number, listener?: () => void) => {
        idleMs = ms;
        if (listener) socket.once('timeout', listener);
        touch();
        return socket;
      },
      ref: () => {
        for (const h of handles) h.ref();
        return socket;
      },
      unref: () => {
        for (const h of handles) h.unref();
        return socket;
      },
    });
    return socket as Socket;
  }
}
