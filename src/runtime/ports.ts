/**
 * The runtime's ports besides storage (src/storage/ports.ts): the peer transport and the clock.
 * The server implements them over TCP and real timers; the simulator over its network and clock.
 */
import type { Notification, QuorumMessage, ServerId } from '../protocol/messages.js';

/** Two logical channels: election (all voters, pairwise) and quorum (learner <-> leader, FIFO). */
export interface PeerTransport {
  /** Best effort: a lost notification is re-sent by the election's own timer. */
  sendElection(to: ServerId, msg: Notification): void;
  /** Opens the quorum connection to the leader; answered by onLeaderConnected / onLeaderConnectFailed. */
  connectToLeader(leader: ServerId): void;
  /** FIFO per peer; silently dropped when there is no connection (the protocol's timers notice). */
  send(to: ServerId, msg: QuorumMessage): void;
  /** The same message to several peers, encoded once. */
  broadcast(to: readonly ServerId[], msg: QuorumMessage): void;
  /** Closes the quorum connection with a peer (no onQuorumClosed for it). */
  close(sid: ServerId, reason: string): void;
  /** Closes every quorum connection (leaving a role). */
  closeAll(reason: string): void;
  attach(handler: TransportHandler): void;
  /**
   * Resolves true once at most `lowWaterBytes` wait to go out to `to` on the quorum channel (at once
   * if so now), false if there is no such connection or it closes first. Bulk senders (a learner's
   * sync stream) await it between chunks, so a large sync never exceeds the connection's bound.
   * Optional: a transport without bounded queues (the simulator's) need not pace anything.
   */
  whenWritable?(to: ServerId, lowWaterBytes: number): Promise<boolean>;
  /** Stops everything (server shutdown or simulated crash). */
  shutdown(): void;
}

export interface TransportHandler {
  onElection(from: ServerId, msg: Notification): void;
  onQuorum(from: ServerId, msg: QuorumMessage): void;
  onLeaderConnected(leader: ServerId): void;
  onLeaderConnectFailed(leader: ServerId): void;
  /** A quorum connection closed by the other side or the network. */
  onQuorumClosed(sid: ServerId): void;
}

export interface TimerHandle {
  readonly id: number;
}

/** What XState's actor system needs to run `after` delays, plus a reading of time for logs/metrics. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
