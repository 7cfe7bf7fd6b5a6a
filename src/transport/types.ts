/**
 * Public types of the TCP peer transport: options, the events it publishes for inspection, and
 * its statistics. Kept apart from the implementation so that callers (the server, tooling) can
 * depend on the shapes alone.
 */
import type { Logger } from 'pino';
import type { ServerSpec } from '../config/types.js';
import type { PeerMessage, ServerId } from '../protocol/messages.js';

/** The two logical channels: pairwise between voters, and learner -> leader. */
export type Channel = 'election' | 'quorum';

/** Who opened a connection, seen from this server. */
export type Direction = 'outbound' | 'inbound';

export interface ReconnectOptions {
  /** first delay before re-dialling an election peer (ms) */
  minMs: number;
  /** cap of the doubling delay (ms) */
  maxMs: number;
}

export interface TcpPeerTransportOptions {
  /** this server's id (myid); must appear in `servers` */
  self: ServerId;
  /** the whole ensemble, as parsed from zoo.cfg */
  servers: readonly ServerSpec[];
  /** checked in every handshake, so that two ensembles never mix */
  clusterId: string;
  /** largest accepted frame payload in bytes on either channel (default 16 MiB) */
  maxFrameBytes?: number;
  /** per-connection bound on bytes not yet taken by the kernel; a peer past it is disconnected (default 64 MiB) */
  maxQueueBytes?: number;
  /** election re-dial backoff (default 100 ms doubling up to 5 s, with jitter) */
  reconnect?: ReconnectOptions;
  /** a connection must complete its handshake within this many ms (default 5000) */
  handshakeTimeoutMs?: number;
  /** election notifications kept per peer while no connection is open; older ones are dropped (default 32) */
  electionQueueLength?: number;
  /** accepted connections still in their handshake at once; more are closed at once (default 128) */
  maxPendingHandshakes?: number;
  logger: Logger;
}

export interface ConnectionEvent {
  peer: ServerId;
  channel: Channel;
  state: 'connecting' | 'open' | 'closed';
  direction: Direction;
  /** why a connection closed or an attempt failed */
  reason?: string;
}

export interface InboundMessage {
  from: ServerId;
  channel: Channel;
  msg: PeerMessage;
}

export interface ConnectionStats {
  peer: ServerId;
  channel: Channel;
  direction: Direction;
  /** bytes written but not yet taken by the kernel, plus bytes batched for the next flush */
  queuedBytes: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface TransportStats {
  /** open connections (handshake done) on both channels */
  connections: ConnectionStats[];
  /** election notifications waiting for a connection, per peer */
  electionQueued: Record<number, number>;
  /** a learner's connection attempt to its leader, if one is under way */
  pendingLeader: ServerId | null;
  counters: {
    /** accepted sockets closed during the handshake for a bad hello (not crossing election connections) */
    refused: number;
    /** connections closed for a malformed, oversized or undecodable frame */
    protocolErrors: number;
    /** connections closed because the peer did not read fast enough */
    slowPeers: number;
    /** election notifications dropped (queue full, no peer, unencodable) */
    electionDropped: number;
    /** quorum messages dropped because no connection with the peer was open */
    quorumDropped: number;
  };
}
