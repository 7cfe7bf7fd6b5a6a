/**
 * The peer transport over the simulated network: an election connection per peer (opened on first
 * use, re-opened after a break) and quorum connections (learner -> leader). With `wire` on, every
 * message goes through the real codec, so the simulator also exercises the bytes.
 */
import { decodePeerMessage, encodePeerMessage } from '../codec/peer-codec.js';
import type { Notification, PeerMessage, QuorumMessage, ServerId } from '../protocol/messages.js';
import type { PeerTransport, TransportHandler } from '../runtime/ports.js';
import type { ConnId, SimNetwork } from './network.js';

/** What travels on a simulated connection: the channel and the message (or its encoding). */
export interface SimWire {
  ch: 'E' | 'Q';
  msg: PeerMessage | Uint8Array;
}

export class SimTransport implements PeerTransport {
  private handler: TransportHandler | null = null;
  private readonly election = new Map<ServerId, ConnId>();
  private readonly quorum = new Map<ServerId, ConnId>();
  private readonly connToPeer = new Map<ConnId, { peer: ServerId; ch: 'E' | 'Q' | '?' }>();
  private pendingLeader: { leader: ServerId; conn: ConnId } | null = null;
  private down = false;

  constructor(
    private readonly self: ServerId,
    private readonly net: SimNetwork<SimWire>,
    private readonly wire: boolean,
    /** told of every quorum message this server sends (fault injection: crash right after a send) */
    private readonly onSent?: (msg: QuorumMessage) => void,
  ) {
    net.attach(self, {
      onConnected: (conn, peer) => this.onConnected(conn, peer),
      onRefused: (conn, peer) => this.onRefused(conn, peer),
      onAccepted: (conn, peer) => this.connToPeer.set(conn, { peer, ch: '?' }),
      onMessage: (conn, from, m) => this.onMessage(conn, from, m),
      onClosed: (conn, peer) => this.onClosed(conn, peer),
    });
  }

  attach(handler: TransportHandler): void {
    this.handler = handler;
  }

  private pack(ch: 'E' | 'Q', msg: PeerMessage): SimWire {
    return { ch, msg: this.wire ? encodePeerMessage(msg) : msg };
  }

  sendElection(to: ServerId, msg: Notification): void {
    if (this.down) return;
    let conn = this.election.get(to);
    if (conn === undefined) {
      conn = this.net.connect(this.self, to);
      this.election.set(to, conn);
      this.connToPeer.set(conn, { peer: to, ch: 'E' });
    }
    this.net.send(this.self, conn, this.pack('E', msg));
  }

  connectToLeader(leader: ServerId): void {
    if (this.down) return;
    const old = this.quorum.get(leader);
    if (old !== undefined) this.closeConn(old);
    const conn = this.net.connect(this.self, leader);
    this.connToPeer.set(conn, { peer: leader, ch: 'Q' });
    this.pendingLeader = { leader, conn };
  }

  send(to: ServerId, msg: QuorumMessage): void {
    if (this.down) return;
    const conn = this.quorum.get(to);
    if (conn !== undefined) this.net.send(this.self, conn, this.pack('Q', msg));
    this.onSent?.(msg);
  }

  broadcast(to: readonly ServerId[], msg: QuorumMessage): void {
    if (this.down) return;
    const wire = this.pack('Q', msg);
    for (const sid of to) {
      const conn = this.quorum.get(sid);
      if (conn !== undefined) this.net.send(this.self, conn, wire);
    }
    this.onSent?.(msg);
  }

  close(sid: ServerId): void {
    const conn = this.quorum.get(sid);
    if (conn !== undefined) this.closeConn(conn);
  }

  closeAll(): void {
    for (const conn of [...this.quorum.values()]) this.closeConn(conn);
    if (this.pendingLeader) {
      this.closeConn(this.pendingLeader.conn);
      this.pendingLeader = null;
    }
  }

  shutdown(): void {
    this.down = true;
    this.handler = null;
  }

  private closeConn(conn: ConnId): void {
    const info = this.connToPeer.get(conn);
    this.connToPeer.delete(conn);
    if (info && this.quorum.get(info.peer) === conn) this.quorum.delete(info.peer);
    if (info && this.election.get(info.peer) === conn) this.election.delete(info.peer);
    if (this.pendingLeader?.conn === conn) this.pendingLeader = null;
    this.net.close(this.self, conn);
  }

  private onConnected(conn: ConnId, peer: ServerId): void {
    if (this.pendingLeader?.conn === conn) {
      this.pendingLeader = null;
      this.quorum.set(peer, conn);
      this.handler?.onLeaderConnected(peer);
    }
  }

  private onRefused(conn: ConnId, peer: ServerId): void {
    this.connToPeer.delete(conn);
    if (this.election.get(peer) === conn) this.election.delete(peer);
    if (this.pendingLeader?.conn === conn) {
      this.pendingLeader = null;
      this.handler?.onLeaderConnectFailed(peer);
    }
  }

  private onClosed(conn: ConnId, peer: ServerId): void {
    const info = this.connToPeer.get(conn);
    this.connToPeer.delete(conn);
    if (this.election.get(peer) === conn) this.election.delete(peer);
    if (this.pendingLeader?.conn === conn) {
      this.pendingLeader = null;
      this.handler?.onLeaderConnectFailed(peer);
      return;
    }
    if (this.quorum.get(peer) === conn) {
      this.quorum.delete(peer);
      if (info) this.handler?.onQuorumClosed(peer);
    }
  }

  private onMessage(conn: ConnId, from: ServerId, w: SimWire): void {
    if (this.down || !this.handler) return;
    let msg: PeerMessage;
    if (w.msg instanceof Uint8Array) {
      const r = decodePeerMessage(w.msg);
      if (!r.ok) throw new Error(`undecodable message from ${from}: ${r.error.message}`);
      msg = r.msg;
    } else msg = w.msg;
    if (w.ch === 'E') {
      if (msg.type === 'NOTIFICATION') this.handler.onElection(from, msg);
      return;
    }
    // The first quorum message on an accepted connection makes it this peer's quorum connection.
    const info = this.connToPeer.get(conn);
    if (info && info.ch === '?') {
      info.ch = 'Q';
      const old = this.quorum.get(from);
      if (old !== undefined && old !== conn) {
        this.closeConn(old);
        this.connToPeer.set(conn, info);
      }
      this.quorum.set(from, conn);
    }
    if (this.quorum.get(from) !== conn) return; // a stale connection we replaced
    this.handler.onQuorum(from, msg as QuorumMessage);
  }
}
