/**
 * The quorum channel: learners dial the leader's quorum port, the leader accepts. Messages are FIFO
 * per connection; a broadcast is encoded once and the same Buffer written to every socket.
 *
 * Callbacks to the handler: onLeaderConnected / onLeaderConnectFailed answer connectToLeader;
 * onQuorumClosed(sid) is called exactly once for a connection closed by the peer, the network, a
 * protocol error or the send-queue bound, and never for one closed by close/closeAll/shutdown or
 * replaced by a newer connection with the same peer.
 */
import type { Socket } from 'node:net';
import type { Subscription } from 'rxjs';
import { encodePeerFrame } from '../codec/peer-codec.js';
import type { PeerMessage, QuorumMessage, ServerId } from '../protocol/messages.js';
import type { ChannelContext } from './context.js';
import { checkAnswer, encodeHandshake, type Handshake } from './handshake.js';
import { dial, endWith, HandshakeFailure } from './handshake-io.js';
import { PeerConnection, type CloseCause, type ConnectionSink } from './peer-connection.js';
import type { ConnectionStats, Direction } from './types.js';

export class QuorumChannel implements ConnectionSink {
  private readonly conns = new Map<ServerId, PeerConnection>();
  private pending: { leader: ServerId; sub: Subscription } | null = null;
  private down = false;

  constructor(private readonly ctx: ChannelContext) {}

  get pendingLeader(): ServerId | null {
    return this.pending?.leader ?? null;
  }

  connectToLeader(leader: ServerId): void {
    if (this.down) return;
    this.cancelPending('superseded by a new connectToLeader');
    this.drop(leader, 'reconnecting to the leader');
    const spec = this.ctx.servers.get(leader);
    if (!spec || leader === this.ctx.self) {
      this.ctx.logger.warn({ leader }, `cannot connect to leader ${leader}: ${spec ? 'it is this server' : 'not in the configuration'}`);
      queueMicrotask(() => {
        if (!this.down) this.ctx.handler()?.onLeaderConnectFailed(leader);
      });
      return;
    }
    const hello = encodeHandshake({ channel: 'quorum', kind: 'hello', sid: this.ctx.self, clusterId: this.ctx.clusterId });
    this.ctx.connectionEvent({ peer: leader, channel: 'quorum', state: 'connecting', direction: 'outbound' });
    const where = `${spec.host}:${spec.quorumPort}`;
    const failed = (reason: string): void => {
      this.pending = null;
      this.ctx.connectionEvent({ peer: leader, channel: 'quorum', state: 'closed', direction: 'outbound', reason });
      this.ctx.handler()?.onLeaderConnectFailed(leader);
    };
    const sub = dial(spec.host, spec.quorumPort, hello, this.ctx.handshakeTimeoutMs).subscribe({
      next: ({ socket, handshake, leftover }) => {
        const refusal = checkAnswer(handshake, { sid: leader, clusterId: this.ctx.clusterId, channel: 'quorum' });
        if (refusal) {
          socket.destroy();
          this.ctx.logger.warn(
            { peer: leader, channel: 'quorum', reason: refusal.reason, hint: refusal.hint },
            `quorum connection to leader ${leader} at ${where} refused: ${refusal.reason}; ${refusal.hint}`,
          );
          failed(refusal.reason);
          return;
        }
        this.pending = null;
        const conn = this.open(leader, socket, 'outbound');
        this.ctx.handler()?.onLeaderConnected(leader);
        // Start reading only now: the handler learns of the connection before any message on it.
        if (this.conns.get(leader) === conn) conn.start(leftover);
      },
      error: (e: unknown) => {
        const reason = e instanceof HandshakeFailure ? e.message : String(e);
        this.ctx.logger.info({ peer: leader, channel: 'quorum', reason }, `cannot connect to leader ${leader} at ${where}: ${reason}`);
        failed(reason);
      },
    });
    if (!sub.closed) this.pending = { leader, sub };
  }

  /** A hello that passed admission arrived on the quorum port (we are, or are about to be, the leader). */
  accept(socket: Socket, hello: Handshake, leftover: Uint8Array): void {
    if (this.down) {
      endWith(socket, null);
      return;
    }
    this.drop(hello.sid, 'replaced by a new connection from the peer');
    socket.write(encodeHandshake({ channel: 'quorum', kind: 'accept', sid: this.ctx.self, clusterId: this.ctx.clusterId }));
    this.open(hello.sid, socket, 'inbound').start(leftover);
  }

  send(to: ServerId, msg: QuorumMessage): void {
    if (this.down) return;
    const conn = this.conns.get(to);
    if (!conn) {
      this.ctx.counters.quorumDropped++;
      return;
    }
    const frame = this.encode(msg, [to]);
    if (frame) conn.write(frame);
  }

  broadcast(to: readonly ServerId[], msg: QuorumMessage): void {
    if (this.down || to.length === 0) return;
    const frame = this.encode(msg, to);
    if (!frame) return;
    for (let i = 0; i < to.length; i++) {
      const conn = this.conns.get(to[i]);
      if (conn) conn.write(frame);
      else this.ctx.counters.quorumDropped++;
    }
  }

  whenWritable(to: ServerId, lowWaterBytes: number): Promise<boolean> {
    return this.conns.get(to)?.whenQueueBelow(lowWaterBytes) ?? Promise.resolve(false);
  }

  close(sid: ServerId, reason: string): void {
    if (this.pending?.leader === sid) this.cancelPending(reason);
    this.drop(sid, reason);
  }

  closeAll(reason: string): void {
    this.cancelPending(reason);
    for (const sid of [...this.conns.keys()]) this.drop(sid, reason);
  }

  shutdown(): void {
    this.down = true;
    this.cancelPending('shutdown');
    for (const c of this.conns.values()) c.destroy('shutdown');
    this.conns.clear();
  }

  stats(): ConnectionStats[] {
    return [...this.conns.values()].map((c) => c.stats());
  }

  // ---------------------------------------------------------------- ConnectionSink

  message(conn: PeerConnection, msg: PeerMessage): void {
    if (msg.type === 'NOTIFICATION') {
      this.ctx.counters.protocolErrors++;
      conn.fail('protocol', 'a NOTIFICATION on the quorum channel (it belongs to the election channel)');
      return;
    }
    this.ctx.inbound(conn.peer, 'quorum', msg);
    this.ctx.handler()?.onQuorum(conn.peer, msg);
  }

  closed(conn: PeerConnection, reason: string, cause: CloseCause): void {
    if (cause === 'protocol') this.ctx.counters.protocolErrors++;
    if (cause === 'slow') this.ctx.counters.slowPeers++;
    if (this.conns.get(conn.peer) !== conn) return; // closed on purpose, or replaced
    this.conns.delete(conn.peer);
    this.ctx.logger.info({ peer: conn.peer, channel: 'quorum', reason, cause }, 'quorum connection closed');
    this.ctx.connectionEvent({ peer: conn.peer, channel: 'quorum', state: 'closed', direction: conn.direction, reason });
    if (!this.down) this.ctx.handler()?.onQuorumClosed(conn.peer);
  }

  // ---------------------------------------------------------------- internals

  /** Encodes once; a message that cannot be framed breaks the FIFO stream, so its targets are closed. */
  private encode(msg: QuorumMessage, to: readonly ServerId[]): Buffer | null {
    try {
      return encodePeerFrame(msg, { maxFrameSize: this.ctx.maxFrameBytes });
    } catch (e) {
      this.ctx.logger.error({ peer: to, type: msg.type, err: e }, `cannot encode a ${msg.type}; closing the connection(s) it was for`);
      for (const sid of to) this.conns.get(sid)?.fail('error', `unencodable ${msg.type}: ${(e as Error).message}`);
      return null;
    }
  }

  private open(peer: ServerId, socket: Socket, direction: Direction): PeerConnection {
    const conn = new PeerConnection(
      socket,
      {
        peer,
        channel: 'quorum',
        direction,
        maxFrameBytes: this.ctx.maxFrameBytes,
        maxQueueBytes: this.ctx.maxQueueBytes,
        logger: this.ctx.logger,
      },
      this,
    );
    this.conns.set(peer, conn);
    this.ctx.logger.info({ peer, channel: 'quorum', direction }, 'quorum connection open');
    this.ctx.connectionEvent({ peer, channel: 'quorum', state: 'open', direction });
    return conn;
  }

  /** Closes on purpose: no onQuorumClosed. */
  private drop(sid: ServerId, reason: string): void {
    const c = this.conns.get(sid);
    if (!c) return;
    this.conns.delete(sid);
    c.close(reason);
    this.ctx.connectionEvent({ peer: sid, channel: 'quorum', state: 'closed', direction: c.direction, reason });
  }

  private cancelPending(reason: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    p.sub.unsubscribe();
    this.ctx.connectionEvent({ peer: p.leader, channel: 'quorum', state: 'closed', direction: 'outbound', reason });
  }
}
