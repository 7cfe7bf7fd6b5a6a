/**
 * A listening socket for one channel: binds host:port, reads each accepted connection's hello
 * (with a timeout and a bound on concurrent handshakes), refuses bad ones with a log saying why and
 * what to check, and hands good ones to the channel, which answers accept or reject.
 */
import net, { type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { ServerSpec } from '../config/types.js';
import type { ServerId } from '../protocol/messages.js';
import { checkHello, encodeHandshake, type Handshake } from './handshake.js';
import { endWith, guardErrors, HandshakeFailure, readHandshake } from './handshake-io.js';
import type { Channel } from './types.js';

export interface ListenerOptions {
  channel: Channel;
  host: string;
  port: number;
  self: ServerId;
  clusterId: string;
  servers: ReadonlyMap<ServerId, ServerSpec>;
  handshakeTimeoutMs: number;
  maxPendingHandshakes: number;
  logger: Logger;
  /** a hello passed the admission checks: the channel must answer (accept or reject) and own the socket */
  onHello(socket: Socket, hello: Handshake, leftover: Uint8Array): void;
  /** an accepted socket was refused during its handshake */
  onRefused(): void;
}

export class Listener {
  private server: Server | null = null;
  private readonly pending = new Map<Socket, Subscription>();
  private closed = false;

  constructor(private readonly o: ListenerOptions) {}

  /** Binds; rejects with an Error naming host:port and what to do when the port cannot be bound. */
  listen(): Promise<void> {
    const { host, port, channel, self } = this.o;
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (s) => this.onConnection(s));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.server = null;
        const what = channel === 'election' ? 'electionPort' : 'quorumPort';
        const advice =
          e.code === 'EADDRINUSE'
            ? 'another process (perhaps another server of this ensemble, or a previous instance still running) holds it: stop it or change the port'
            : e.code === 'EADDRNOTAVAIL'
              ? `${host} is not an address of this machine: server.${self} must name this host`
              : e.code === 'EACCES'
                ? 'ports below 1024 need privileges: use a higher port'
                : `check the ${what} of server.${self} in zoo.cfg`;
        reject(
          new Error(
            `cannot bind the ${channel} port ${host}:${port} of server ${self} (${e.code ?? e.message}): ${advice} (server.${self}'s ${what} in zoo.cfg)`,
            { cause: e },
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        server.on('error', (e) => this.o.logger.error({ err: e, channel }, 'listening socket error'));
        resolve();
      });
    });
  }

  /** The bound address (useful when listening on port 0). */
  address(): net.AddressInfo | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : null;
  }

  /** Stops accepting, drops connections still in their handshake; resolves once the port is free. */
  close(): Promise<void> {
    this.closed = true;
    for (const [s, sub] of this.pending) {
      sub.unsubscribe();
      s.destroy();
    }
    this.pending.clear();
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    guardErrors(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const log = this.o.logger;
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.pending.size >= this.o.maxPendingHandshakes) {
      log.warn(
        { channel: this.o.channel, remote, pending: this.pending.size },
        'refused connection: too many connections are still in their handshake; check for a port scanner or a misconfigured client',
      );
      this.o.onRefused();
      socket.destroy();
      return;
    }
    const sub = readHandshake(socket, this.o.handshakeTimeoutMs).subscribe({
      next: ({ handshake, leftover }) => {
        this.pending.delete(socket);
        const refusal = checkHello(handshake, {
          self: this.o.self,
          clusterId: this.o.clusterId,
          servers: this.o.servers,
          channel: this.o.channel,
        });
        if (refusal) {
          log.warn(
            { channel: this.o.channel, remote, peer: handshake.sid, reason: refusal.reason, hint: refusal.hint },
            `refused ${this.o.channel} connection from ${remote} (claims server ${handshake.sid}): ${refusal.reason}; ${refusal.hint}`,
          );
          this.o.onRefused();
          const reject = encodeHandshake({
            channel: this.o.channel,
            kind: 'reject',
            sid: this.o.self,
            clusterId: this.o.clusterId,
            reason: refusal.reason,
          });
          endWith(socket, reject);
          return;
        }
        this.o.onHello(socket, handshake, leftover);
      },
      error: (e: unknown) => {
        this.pending.delete(socket);
        const f = e instanceof HandshakeFailure ? e : new HandshakeFailure('error', String(e));
        if (f.kind === 'closed' || f.kind === 'error') {
          log.debug({ channel: this.o.channel, remote, reason: f.message }, 'connection closed during its handshake');
        } else {
          const hint =
            f.kind === 'timeout'
              ? 'a peer that connects must send its handshake at once: check for a port scanner or a client pointed at a server port'
              : `only zab servers of this ensemble may connect to the ${this.o.channel} port: check that clients use the clientPort`;
          log.warn(
            { channel: this.o.channel, remote, reason: f.message, hint },
            `refused ${this.o.channel} connection from ${remote}: ${f.message}; ${hint}`,
          );
          this.o.onRefused();
        }
        socket.destroy();
      },
    });
    if (!sub.closed) this.pending.set(socket, sub);
  }
}
