/**
 * Server-to-server messages: a discriminated union on `type`. Election messages travel on the
 * election channel (all voters, pairwise); the rest on the quorum channel (learner <-> leader).
 * Names follow ZooKeeper's packet types where one exists. Hot-path messages carry batches.
 */
import type { Zxid } from '../zxid.js';

export type ServerId = number;

/** Server state as announced in election notifications. */
export type PeerState = 'LOOKING' | 'FOLLOWING' | 'LEADING' | 'OBSERVING';

/** One transaction as replicated: the zxid and the application's opaque, idempotent txn bytes. */
export interface Txn {
  zxid: Zxid;
  data: Uint8Array;
}

/** A client request forwarded from a learner to the leader; the id lets the learner answer its client. */
export interface ForwardedRequest {
  /** Opaque request id unique to the forwarding server's incarnation. */
  id: string;
  data: Uint8Array;
}

// ---- election channel ----

/** FLE notification: the sender's current vote, its round (logical clock) and its state. */
export interface Notification {
  type: 'NOTIFICATION';
  /** proposed leader */
  leader: ServerId;
  /** proposed leader's last zxid */
  zxid: Zxid;
  /** proposed leader's epoch (currentEpoch) */
  peerEpoch: number;
  /** the sender's election round (logical clock) */
  round: number;
  state: PeerState;
}

// ---- quorum channel: discovery ----

export interface FollowerInfo {
  type: 'FOLLOWERINFO';
  acceptedEpoch: number;
  lastZxid: Zxid;
  observer: boolean;
}

export interface LeaderInfo {
  type: 'LEADERINFO';
  newEpoch: number;
}

export interface AckEpoch {
  type: 'ACKEPOCH';
  currentEpoch: number;
  lastZxid: Zxid;
  /**
   * False when the learner had already accepted this epoch before (a reconnect): the leader must
   * not count it toward the epoch's quorum (ZooKeeper sends currentEpoch -1 for this).
   */
  counted: boolean;
}

// ---- quorum channel: synchronization ----

/** Learner will receive the txns after its last zxid up to `zxid` as PROPOSAL+COMMIT. */
export interface Diff {
  type: 'DIFF';
  zxid: Zxid;
}

/** Learner must truncate its log after `zxid`, then receives a DIFF-style tail. */
export interface Trunc {
  type: 'TRUNC';
  zxid: Zxid;
}

/** A full state snapshot at `zxid` follows in SNAPCHUNK messages. */
export interface Snap {
  type: 'SNAP';
  zxid: Zxid;
  size: number;
}

export interface SnapChunk {
  type: 'SNAPCHUNK';
  offset: number;
  data: Uint8Array;
  last: boolean;
}

/** Sent after the sync stream: the learner makes it durable, persists currentEpoch, then ACKs. */
export interface NewLeader {
  type: 'NEWLEADER';
  epoch: number;
  /** The leader's last zxid at the end of sync; the learner's log must end here. */
  zxid: Zxid;
}

export interface AckNewLeader {
  type: 'ACKNEWLEADER';
  epoch: number;
}

/** Quorum has acked NEWLEADER: the learner may serve. `committed` is the leader's latest commit. */
export interface UpToDate {
  type: 'UPTODATE';
  committed: Zxid;
}

// ---- quorum channel: broadcast ----

/** A batch of proposals with consecutive zxids. */
export interface Proposal {
  type: 'PROPOSAL';
  txns: Txn[];
}

/** Cumulative: every proposal up to and including `zxid` is durable on the sender. */
export interface Ack {
  type: 'ACK';
  zxid: Zxid;
}

/** Cumulative: every proposal up to and including `zxid` is committed. */
export interface Commit {
  type: 'COMMIT';
  zxid: Zxid;
}

/**
 * Leader -> follower: the leader's own ACK. Every proposal up to and including `zxid` is durable on
 * the leader. Sent only where the leader and that follower form a quorum, so the follower may commit
 * what both have logged without waiting for COMMIT (one hop less for a write taken at a follower).
 */
export interface LeaderAck {
  type: 'LEADERACK';
  zxid: Zxid;
}

/** Observers: proposals that are already committed. */
export interface Inform {
  type: 'INFORM';
  txns: Txn[];
}

export interface Ping {
  type: 'PING';
  /** leader -> learner: leader's latest commit; learner -> leader: the learner's last logged zxid */
  zxid: Zxid;
}

/** Writes forwarded by a learner to the leader. */
export interface Request {
  type: 'REQUEST';
  requests: ForwardedRequest[];
}

/** Learner asks the leader to flush commits before answering `id` (ZooKeeper's sync). */
export interface SyncRequest {
  type: 'SYNC';
  id: string;
}

export interface SyncReply {
  type: 'SYNCREPLY';
  id: string;
  zxid: Zxid;
}

export type ElectionMessage = Notification;

export type QuorumMessage =
  | FollowerInfo
  | LeaderInfo
  | AckEpoch
  | Diff
  | Trunc
  | Snap
  | SnapChunk
  | NewLeader
  | AckNewLeader
  | UpToDate
  | Proposal
  | Ack
  | Commit
  | LeaderAck
  | Inform
  | Ping
  | Request
  | SyncRequest
  | SyncReply;

export type PeerMessage = ElectionMessage | QuorumMessage;
export type PeerMessageType = PeerMessage['type'];

export const PEER_MESSAGE_TYPES: readonly PeerMessageType[] = [
  'NOTIFICATION',
  'FOLLOWERINFO',
  'LEADERINFO',
  'ACKEPOCH',
  'DIFF',
  'TRUNC',
  'SNAP',
  'SNAPCHUNK',
  'NEWLEADER',
  'ACKNEWLEADER',
  'UPTODATE',
  'PROPOSAL',
  'ACK',
  'COMMIT',
  'INFORM',
  'PING',
  'REQUEST',
  'SYNC',
  'SYNCREPLY',
  'LEADERACK',
];
