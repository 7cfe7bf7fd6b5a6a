/**
 * The protocol core's contract with the runtime. Machines receive `PeerEvent`s and ask for I/O only
 * by handing `Effect`s to the `io` port they were given; they never touch sockets, files or clocks.
 * Timers are XState delays, driven by whatever clock the runtime gives the actor system.
 */
import type { Zxid } from '../src/zxid.js';
import type {
  ForwardedRequest,
  Notification,
  PeerState,
  QuorumMessage,
  ServerId,
  Txn,
} from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';

/** Timing derived from zoo.cfg (all in ms except the limits, which are in ticks). */
export interface Timing {
  tickTime: number;
  initLimit: number;
  syncLimit: number;
  /** FLE: how long to wait for a better vote once our vote has a quorum. */
  finalizeWaitMs: number;
  /** FLE: first and largest interval between re-sent notifications. */
  notifyMinMs: number;
  notifyMaxMs: number;
  /** Learner: pause between attempts to reach the leader. */
  connectRetryMs: number;
  /**
   * Synced follower: how long it hears nothing from its leader (which pings every tickTime/2) before
   * it looks for a new one. Default: syncLimit x tickTime, ZooKeeper's read timeout.
   */
  leaderTimeoutMs?: number;
}

export const DEFAULT_TIMING: Timing = {
  tickTime: 2000,
  initLimit: 10,
  syncLimit: 5,
  finalizeWaitMs: 200,
  notifyMinMs: 100,
  notifyMaxMs: 2000,
  connectRetryMs: 50,
};

/** The zxids a log holds, summarised per epoch. Counters are contiguous within an epoch. */
export interface EpochRange {
  epoch: number;
  first: number;
  last: number;
}

export interface LogHistory {
  /** Everything up to `base` is folded into a snapshot and may be gone from the log. */
  base: Zxid;
  /** Ranges of the records after `base`, in order. */
  ranges: EpochRange[];
}

/** How the leader brings one learner in line with its history. */
export type SyncPlan =
  | { mode: 'DIFF'; from: Zxid }
  | { mode: 'TRUNC'; to: Zxid }
  | { mode: 'SNAP' };

/** Facts a server keeps across roles; the peer machine owns them. */
export interface PeerFacts {
  acceptedEpoch: number;
  currentEpoch: number;
  /** Last zxid durable in the log (or the snapshot base). */
  lastLogged: Zxid;
  history: LogHistory;
}

export type Role = 'looking' | 'following' | 'leading' | 'observing';

export type Effect =
  /** Election channel: the same notification to each of `to`. */
  | { type: 'sendElection'; to: ServerId[]; msg: Notification }
  /** Quorum channel: one message to one peer, in FIFO order with everything sent to it before. */
  | { type: 'send'; to: ServerId; msg: QuorumMessage }
  /** Quorum channel: one message (encoded once) to several peers. */
  | { type: 'broadcast'; to: ServerId[]; msg: QuorumMessage }
  /** Learner: open the quorum connection to the leader (answered by LEADER_CONNECTED / _FAILED). */
  | { type: 'connect'; leader: ServerId }
  /** Close the quorum connection with a peer. */
  | { type: 'disconnect'; sid: ServerId; reason: string }
  /**
   * Watch a peer for silence: answered by PEER_SILENT once no quorum message came from `sid` for
   * `ms`. Replaces any watch of `sid`; `owner` (the watching actor's id) guards the unwatch. The
   * runtime notes each message's arrival, so a statechart need not re-arm a timer per message.
   */
  | { type: 'watchSilence'; sid: ServerId; ms: number; owner: string }
  /** Stop watching `sid`, if `owner`'s watch is still the current one. */
  | { type: 'unwatchSilence'; sid: ServerId; owner: string }
  /** Log txns (not apply them); answered by LOG_SYNCED when durable. */
  | { type: 'append'; txns: Txn[] }
  /** Durably drop every logged txn after `zxid`; answered by TRUNCATED. */
  | { type: 'truncate'; zxid: Zxid }
  /** A piece of a snapshot being received from the leader. */
  | { type: 'snapshotChunk'; offset: number; data: Uint8Array; last: boolean }
  /** Replace state and log with the received snapshot at `zxid`, durably; answered by SNAPSHOT_INSTALLED. */
  | { type: 'installSnapshot'; zxid: Zxid; size: number }
  | { type: 'persistAcceptedEpoch'; epoch: number }
  | { type: 'persistCurrentEpoch'; epoch: number }
  /** Apply every committed, logged txn up to and including `upTo`. */
  | { type: 'deliver'; upTo: Zxid }
  /** Leader: turn requests into txns first..first+n-1, log them and send PROPOSAL to `to`. */
  | { type: 'propose'; first: Zxid; requests: ForwardedRequest[]; to: ServerId[] }
  /** Leader: stream the sync for one learner (DIFF/TRUNC/SNAP and txns up to `upTo`, commits up to `committed`). */
  | { type: 'syncLearner'; sid: ServerId; plan: SyncPlan; upTo: Zxid; committed: Zxid }
  /** Leader: a quorum acked NEWLEADER for `epoch` on a history ending at `zxid`. */
  | { type: 'established'; epoch: number; zxid: Zxid }
  /** Client requests that cannot be served here now (the client should retry, maybe elsewhere). */
  | { type: 'rejectRequests'; ids: string[]; reason: string }
  /** A client sync is done once this server has applied `zxid`. */
  | { type: 'syncDone'; id: string; zxid: Zxid }
  /** Role/phase changed (for status, metrics, inspection). */
  | { type: 'role'; role: Role; phase: string; leader: ServerId | null; epoch: number }
  /** Leaving a role: settle storage (pending appends), forget unapplied prepared state; answered by QUIESCED. */
  | { type: 'quiesce'; reason: string }
  /** A protocol decision worth a log line. */
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> };

export type Io = (effect: Effect) => void;

export type PeerEvent =
  | { type: 'NOTIFICATION'; from: ServerId; msg: Notification }
  | { type: 'QUORUM_MESSAGE'; from: ServerId; msg: QuorumMessage }
  | { type: 'LEADER_CONNECTED'; leader: ServerId }
  | { type: 'LEADER_CONNECT_FAILED'; leader: ServerId }
  | { type: 'PEER_DISCONNECTED'; sid: ServerId }
  /** A watched peer (watchSilence) sent nothing on the quorum channel for the watch's limit. */
  | { type: 'PEER_SILENT'; sid: ServerId }
  | { type: 'LOG_SYNCED'; zxid: Zxid }
  | { type: 'TRUNCATED'; zxid: Zxid }
  | { type: 'SNAPSHOT_INSTALLED'; zxid: Zxid }
  | { type: 'ACCEPTED_EPOCH_PERSISTED'; epoch: number }
  | { type: 'CURRENT_EPOCH_PERSISTED'; epoch: number }
  | { type: 'CLIENT_REQUESTS'; requests: ForwardedRequest[] }
  | { type: 'CLIENT_SYNC'; id: string }
  | { type: 'QUIESCED'; lastLogged: Zxid; history: LogHistory };

/** What every role machine is started with. */
export interface RoleInput {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  facts: PeerFacts;
  io: Io;
}

export type { PeerState, QuorumSystem };
