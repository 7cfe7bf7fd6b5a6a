/**
 * The election channel: one TCP connection per pair of voters, opened lazily on the first
 * notification and kept (re-dialled with backoff and jitter when lost).
 *
 * Crossing connections are resolved as ZooKeeper's QuorumCnxManager does: only a connection opened
 * by the HIGHER server id is kept. A lower id that needs a connection dials anyway; the higher id
 * answers "reject: connect-back" and dials back at once, and the lower id adopts that connection.
 * A hello from a higher id always replaces what the lower id had (including its own dial under
 * way). A hello from a lower id while the higher id holds an open connection older than
 * CROSSING_GRACE_MS means the lower id lost it (a half-open connection): the higher id drops it and
 * dials anew. Both sides apply the same rule, so crossings settle on the higher id's connection.
 *
 * While no connection is open, notifications wait in a short per-peer queue (oldest dropped
 * first); the election re-sends on its own timer anyway.
 */
import type { Socket } from 'node:net';
import type { Subscription } from 'rxjs';
import type { Notification, PeerMessage, ServerId } from '../protocol/messages.js';
import { encodePeerFrame } from '../codec/peer-codec.js';
import { Backoff } from './backoff.js';
import type { ChannelContext } from './context.js';
import { checkAnswer, encodeHandshake, type Handshake } from './handshake.js';
import { dial, endWith, HandshakeFailure } from './handshake-io.js';
import { PeerConnection, type CloseCause, type ConnectionSink } from './peer-connection.js';
import type { ConnectionStats, Direction, ReconnectOptions } from './types.js';

/** The reason a higher id gives when it refuses a lower id's dial and connects back itself. */
export const CONNECT_BACK = 'connect-back: the higher server id opens the election connection';
/** An open connection younger than this is kept when the lower id dials (a crossing, not a loss). */
export const CROSSING_GRACE_MS = 1000;

interface ElectionPeer {
  readonly sid: ServerId;
  /** true once we sent to or heard from this peer: then the connection is kept up */
  wanted: boolean;
  conn: PeerConnection | null;
  dialing: Subscription | null;
  retry: NodeJS.Timeout | null;
  readonly backoff: Backoff;
  queue: Buffer[];
}

export class ElectionChannel implements ConnectionSink {
  private readonly peers = new Map<ServerId, ElectionPeer>();
  private down = false;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly reconnect: ReconnectOptions,
    private readonly queueLength: number,
  ) {}

  private peer(sid: ServerId): ElectionPeer | null {
    const spec = this.ctx.servers.get(sid);
    if (!spec || spec.role !== 'participant' || sid === this.ctx.self) return null;
    let p = this.peers.get(sid);
    if (!p) {
      p = { sid, wanted: false, conn: null, dialing: null, retry: null, backoff: new Backoff(this.reconnect), queue: [] };
      this.peers.set(sid, p);
    }
    return p;
  }

  private get selfIsVoter(): boolean {
    return this.ctx.servers.get(this.ctx.self)?.role === 'participant';
  }

  send(to: ServerId, msg: Notification): void {
    if (this.down) return;
    const p = this.selfIsVoter ? this.peer(to) : null;
    if (!p) {
      this.ctx.counters.electionDropped++;
      this.ctx.logger.debug({ peer: to }, 'election notification dropped: not a voter (or this server is not one)');
      return;
    }
    let frame: Buffer;
    try {
      frame = encodePeerFrame(msg, { maxFrameSize: this.ctx.maxFrameBytes });
    } catch (e) {
      this.ctx.counters.electionDropped++;
      this.ctx.logger.error({ peer: to, err: e }, 'cannot encode an election notification; dropped');
      return;
    }
    p.wanted = true;
    if (p.conn) {
      p.conn.write(frame);
      return;
    }
    p.queue.push(frame);
    if (p.queue.length > this.queueLength) {
      p.queue.shift();
      this.ctx.counters.electionDropped++;
    }
    if (!p.dialing && !p.retry) this.dial(p);
  }

  /** A hello that passed admission arrived on the election port. */
  accept(socket: Socket, hello: Handshake, leftover: Uint8Array): void {
    const p = this.down ? null : this.peer(hello.sid);
    if (!p) {
      endWith(socket, null);
      return;
    }
    const self = this.ctx.self;
    if (hello.sid < self) {
      // Only the higher id's connection is kept: refuse, and dial back unless already connected.
      endWith(socket, this.handshake('reject', CONNECT_BACK));
      p.wanted = true;
      if (p.conn && Date.now() - p.conn.openedAt >= CROSSING_GRACE_MS) {
        this.ctx.logger.info({ peer: p.sid, channel: 'election' }, 'peer dialled although we hold a connection: replacing it');
        this.drop(p, 'the peer lost it (it dialled again)');
      }
      if (!p.conn && !p.dialing) {
        this.cancelRetry(p);
        this.dial(p);
      }
      return;
    }
    // A higher id: its connection wins over anything we have.
    if (p.dialing) {
      p.dialing.unsubscribe();
      p.dialing = null;
      this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'closed', direction: 'outbound', reason: 'crossed by the higher id' });
    }
    this.cancelRetry(p);
    if (p.conn) this.drop(p, 'replaced by a new connection from the peer');
    socket.write(this.handshake('accept'));
    p.wanted = true;
    this.open(p, socket, 'inbound', leftover);
  }

  shutdown(): void {
    this.down = true;
    for (const p of this.peers.values()) {
      p.dialing?.unsubscribe();
      p.dialing = null;
      this.cancelRetry(p);
      p.queue = [];
      const c = p.conn;
      p.conn = null;
      c?.destroy('shutdown');
    }
  }

  stats(): { connections: ConnectionStats[]; queued: Record<number, number> } {
    const connections: ConnectionStats[] = [];
    const queued: Record<number, number> = {};
    for (const p of this.peers.values()) {
      if (p.conn) connections.push(p.conn.stats());
      if (p.queue.length > 0) queued[p.sid] = p.queue.length;
    }
    return { connections, queued };
  }

  // ---------------------------------------------------------------- ConnectionSink

  message(conn: PeerConnection, msg: PeerMessage): void {
    if (msg.type !== 'NOTIFICATION') {
      this.ctx.counters.protocolErrors++;
      conn.fail('protocol', `a ${msg.type} message on the election channel (only NOTIFICATION belongs there)`);
      return;
    }
    this.ctx.inbound(conn.peer, 'election', msg);
    this.ctx.handler()?.onElection(conn.peer, msg);
  }

  closed(conn: PeerConnection, reason: string, cause: CloseCause): void {
    if (cause === 'protocol') this.ctx.counters.protocolErrors++;
    if (cause === 'slow') this.ctx.counters.slowPeers++;
    const p = this.peers.get(conn.peer);
    if (!p || p.conn !== conn) return; // replaced or dropped earlier
    p.conn = null;
    this.ctx.logger.info({ peer: p.sid, channel: 'election', reason, cause }, 'election connection closed');
    this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'closed', direction: conn.direction, reason });
    this.scheduleRetry(p);
  }

  // ---------------------------------------------------------------- internals

  private handshake(kind: 'hello' | 'accept' | 'reject', reason?: string): Buffer {
    return encodeHandshake({ channel: 'election', kind, sid: this.ctx.self, clusterId: this.ctx.clusterId, reason });
  }

  private open(p: ElectionPeer, socket: Socket, direction: Direction, leftover: Uint8Array): void {
    const conn = new PeerConnection(
      socket,
      {
        peer: p.sid,
        channel: 'election',
        direction,
        maxFrameBytes: this.ctx.maxFrameBytes,
        maxQueueBytes: this.ctx.maxQueueBytes,
        logger: this.ctx.logger,
      },
      this,
    );
    p.conn = conn;
    p.backoff.reset();
    this.ctx.logger.info({ peer: p.sid, channel: 'election', direction }, 'election connection open');
    this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'open', direction });
    const queued = p.queue;
    p.queue = [];
    for (const f of queued) conn.write(f);
    conn.start(leftover);
  }

  /** Closes the current connection on purpose (no retry scheduled for it). */
  private drop(p: ElectionPeer, reason: string): void {
    const c = p.conn;
    if (!c) return;
    p.conn = null;
    c.close(reason);
    this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'closed', direction: c.direction, reason });
  }

  private dial(p: ElectionPeer): void {
    const spec = this.ctx.servers.get(p.sid)!;
    this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'connecting', direction: 'outbound' });
    p.dialing = dial(spec.host, spec.electionPort, this.handshake('hello'), this.ctx.handshakeTimeoutMs).subscribe({
      next: ({ socket, handshake, leftover }) => {
        p.dialing = null;
        const refusal = checkAnswer(handshake, { sid: p.sid, clusterId: this.ctx.clusterId, channel: 'election' });
        if (refusal) {
          socket.destroy();
          const connectBack = handshake.kind === 'reject' && handshake.reason === CONNECT_BACK;
          if (connectBack) {
            this.ctx.logger.debug({ peer: p.sid }, 'election dial answered connect-back; waiting for the peer to dial us');
          } else {
            this.ctx.logger.warn(
              { peer: p.sid, channel: 'election', reason: refusal.reason, hint: refusal.hint },
              `election connection to server ${p.sid} at ${spec.host}:${spec.electionPort} refused: ${refusal.reason}; ${refusal.hint}`,
            );
          }
          this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'closed', direction: 'outbound', reason: refusal.reason });
          this.scheduleRetry(p);
          return;
        }
        if (p.conn) {
          // Cannot happen (an adopted connection cancels the dial), but never keep two.
          endWith(socket, null);
          return;
        }
        this.open(p, socket, 'outbound', leftover);
      },
      error: (e: unknown) => {
        p.dialing = null;
        const reason = e instanceof HandshakeFailure ? e.message : String(e);
        this.ctx.logger.debug({ peer: p.sid, channel: 'election', reason }, `cannot reach server ${p.sid} at ${spec.host}:${spec.electionPort}`);
        this.ctx.connectionEvent({ peer: p.sid, channel: 'election', state: 'closed', direction: 'outbound', reason });
        this.scheduleRetry(p);
      },
    });
  }

  private scheduleRetry(p: ElectionPeer): void {
    if (this.down || !p.wanted || p.conn || p.dialing || p.retry) return;
    const delay = p.backoff.next();
    p.retry = setTimeout(() => {
      p.retry = null;
      if (!this.down && !p.conn && !p.dialing) this.dial(p);
    }, delay);
  }

  private cancelRetry(p: ElectionPeer): void {
    if (p.retry) clearTimeout(p.retry);
    p.retry = null;
  }
}
