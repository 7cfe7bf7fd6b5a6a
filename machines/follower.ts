/**
 * `follower`: a learner's life under one leader. Discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH),
 * synchronization (DIFF / TRUNC / SNAP, then NEWLEADER handled in the order durable log, then
 * currentEpoch, then ACK; then UPTODATE), broadcast (PROPOSAL logged then ACKed, COMMIT delivered,
 * PING answered). Any breach of the leader's protocol ends the role: the peer goes back to looking.
 */
import { and, assign, setup } from 'xstate';
import { counterOf, epochOf, formatZxid, type Zxid } from '../src/zxid.js';
import type { QuorumMessage, ServerId, Txn } from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';
import type { Io, PeerEvent, PeerFacts, Timing } from './types.js';

export interface FollowerInput {
  self: ServerId;
  leader: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  facts: PeerFacts;
}

export interface FollowerOutput {
  reason: string;
}

export interface FollowerContext {
  self: ServerId;
  leader: ServerId;
  timing: Timing;
  io: Io;
  acceptedEpoch: number;
  currentEpoch: number;
  /** the epoch the leader announced in LEADERINFO */
  epoch: number;
  /** last zxid handed to the log (maybe not durable yet) */
  lastReceived: Zxid;
  /** last zxid durable in the log */
  lastLogged: Zxid;
  /** commit point as far as we know: the leader's COMMIT, or what both of us logged (LEADERACK) */
  committed: Zxid;
  /** last zxid durable in the leader's log, by its LEADERACK */
  leaderLogged: Zxid;
  /** the leader and we form a quorum: once synced, what both have logged is committed */
  pairQuorum: boolean;
  /** what we asked the runtime to apply so far */
  delivered: Zxid;
  /** truncations or snapshot installs still in flight (logged appends queue behind them) */
  storagePending: number;
  /** NEWLEADER's zxid: the log must end exactly here before we ack */
  syncTarget: Zxid;
  snapshotZxid: Zxid;
  synced: boolean;
  /** attempts to reach the leader so far: bounded by initLimit */
  connectAttempts: number;
  failure: string;
}

type QuorumEvent = Extract<PeerEvent, { type: 'QUORUM_MESSAGE' }>;
export type FollowerEvent = PeerEvent;

/** How long the leader may stay silent: initLimit until synced, then the (shorter) leader timeout. */
export function leaderSilenceMs(ctx: FollowerContext): number {
  return ctx.synced ? (ctx.timing.leaderTimeoutMs ?? ctx.timing.syncLimit * ctx.timing.tickTime) : ctx.timing.initLimit * ctx.timing.tickTime;
}

function msgOf<T extends QuorumMessage['type']>(event: FollowerEvent): Extract<QuorumMessage, { type: T }> {
  return (event as QuorumEvent).msg as Extract<QuorumMessage, { type: T }>;
}

function isQuorumMsg(event: FollowerEvent, type: QuorumMessage['type']): boolean {
  return event.type === 'QUORUM_MESSAGE' && event.msg.type === type;
}

/**
 * A proposal batch must continue our log with no hole (ZOOKEEPER-4925): the next counter of the same
 * epoch, or counter 1 of a later epoch (sync streams cross epochs). Returns the fault, if any.
 */
export function proposalFault(last: Zxid, txns: readonly Txn[], maxEpoch: number): string | null {
  let prev = last;
  for (const t of txns) {
    const z = t.zxid;
    // A redundant proposal of something we already have is harmless (TLA+ finding): skip it.
    if (z <= prev && prev === last) continue;
    const contiguous = z === prev + 1n && counterOf(z) !== 0;
    const newEpoch = epochOf(z) > epochOf(prev) && counterOf(z) === 1;
    if (!contiguous && !newEpoch) return `proposal ${formatZxid(z)} does not follow ${formatZxid(prev)}`;
    if (epochOf(z) > maxEpoch) return `proposal ${formatZxid(z)} is from an epoch after ${maxEpoch}`;
    prev = z;
  }
  return null;
}

/**
 * `patch` plus the delivery it makes possible: everything both committed and durable here, unless
 * a truncation or snapshot install is still in flight. Once synced, where the leader and we form a
 * quorum, what both of us have logged is committed: our log is a prefix of the leader's, so those
 * txns are on a quorum, and so is everything before them.
 */
export function deliverWith(ctx: FollowerContext, patch: Partial<FollowerContext>): Partial<FollowerContext> {
  let committed = patch.committed ?? ctx.committed;
  const lastLogged = patch.lastLogged ?? ctx.lastLogged;
  if (ctx.pairQuorum && ctx.synced) {
    const leaderLogged = patch.leaderLogged ?? ctx.leaderLogged;
    const both = leaderLogged < lastLogged ? leaderLogged : lastLogged;
    if (both > committed) patch.committed = committed = both;
  }
  const upTo = committed < lastLogged ? committed : lastLogged;
  if (upTo <= ctx.delivered || ctx.storagePending > 0) return patch;
  ctx.io({ type: 'deliver', upTo });
  patch.delivered = upTo;
  return patch;
}

/** The leader's commit point from its PING, never past what we received from it. */
function pingCommitPoint(ctx: FollowerContext, zxid: Zxid): Zxid {
  return zxid < ctx.lastReceived ? zxid : ctx.lastReceived;
}

/** Messages of the leader's FIFO stream that every phase after discovery accepts. */
const STREAM = [
  { guard: and(['isProposal', 'proposalContinuesLog']), actions: ['append', 'noteReceived'] },
  { guard: and(['isCommit', 'commitIsKnown']), actions: 'noteCommitAndDeliver' },
  { guard: 'isLeaderAck', actions: 'noteLeaderLoggedAndDeliver' },
  { guard: 'isPing', actions: 'answerPing' },
] as const;

export const followerMachine = setup({
  types: {
    context: {} as FollowerContext,
    events: {} as FollowerEvent,
    input: {} as FollowerInput,
    output: {} as FollowerOutput,
  },
  guards: {
    isLeaderInfo: ({ event }) => isQuorumMsg(event, 'LEADERINFO'),
    /** the announced epoch (taken from LEADERINFO) is one we never accepted */
    epochIsNew: ({ context }) => context.epoch > context.acceptedEpoch,
    /** the announced epoch is one we accepted before (a reconnect): ack, but not counted */
    epochIsSame: ({ context }) => context.epoch === context.acceptedEpoch,
    isDiff: ({ event }) => isQuorumMsg(event, 'DIFF'),
    isTrunc: ({ event }) => isQuorumMsg(event, 'TRUNC'),
    isSnap: ({ event }) => isQuorumMsg(event, 'SNAP'),
    isSnapChunk: ({ event }) => isQuorumMsg(event, 'SNAPCHUNK'),
    isLastSnapChunk: ({ event }) => isQuorumMsg(event, 'SNAPCHUNK') && msgOf<'SNAPCHUNK'>(event).last,
    truncKeepsCommitted: ({ context, event }) => msgOf<'TRUNC'>(event).zxid >= context.delivered,
    isProposal: ({ event }) => isQuorumMsg(event, 'PROPOSAL'),
    proposalContinuesLog: ({ context, event }) =>
      proposalFault(context.lastReceived, msgOf<'PROPOSAL'>(event).txns, context.epoch) === null,
    isCommit: ({ event }) => isQuorumMsg(event, 'COMMIT'),
    commitIsKnown: ({ context, event }) => msgOf<'COMMIT'>(event).zxid <= context.lastReceived,
    isLeaderAck: ({ event }) => isQuorumMsg(event, 'LEADERACK'),
    commitIsSpent: ({ context, event }) => msgOf<'COMMIT'>(event).zxid <= context.committed,
    pingCommitsMore: ({ context, event }) => pingCommitPoint(context, msgOf<'PING'>(event).zxid) > context.committed,
    isNewLeader: ({ event }) => isQuorumMsg(event, 'NEWLEADER'),
    newLeaderMatchesLog: ({ context, event }) => {
      const m = msgOf<'NEWLEADER'>(event);
      return m.epoch === context.epoch && m.zxid === context.lastReceived;
    },
    logDurableToTarget: ({ context }) => context.storagePending === 0 && context.lastLogged >= context.syncTarget,
    isUpToDate: ({ event }) => isQuorumMsg(event, 'UPTODATE'),
    isPing: ({ event }) => isQuorumMsg(event, 'PING'),
    isSyncReply: ({ event }) => isQuorumMsg(event, 'SYNCREPLY'),
    fromLeaderConnection: ({ context, event }) => event.type === 'PEER_DISCONNECTED' && event.sid === context.leader,
    leaderIsSilent: ({ context, event }) => event.type === 'PEER_SILENT' && event.sid === context.leader,
    mayRetryConnect: ({ context }) =>
      context.connectAttempts * context.timing.connectRetryMs < context.timing.initLimit * context.timing.tickTime,
  },
  actions: {
    connect: ({ context }) => context.io({ type: 'connect', leader: context.leader }),
    countConnectAttempt: assign(({ context }) => ({ connectAttempts: context.connectAttempts + 1 })),
    sendFollowerInfo: ({ context }) =>
      context.io({
        type: 'send',
        to: context.leader,
        msg: { type: 'FOLLOWERINFO', acceptedEpoch: context.acceptedEpoch, lastZxid: context.lastLogged, observer: false },
      }),
    takeEpoch: assign(({ event }) => ({ epoch: msgOf<'LEADERINFO'>(event).newEpoch })),
    persistAcceptedEpoch: ({ context }) => context.io({ type: 'persistAcceptedEpoch', epoch: context.epoch }),
    noteAcceptedEpoch: assign(({ context }) => ({ acceptedEpoch: context.epoch })),
    sendAckEpoch: ({ context }, params: { counted: boolean }) =>
      context.io({
        type: 'send',
        to: context.leader,
        msg: { type: 'ACKEPOCH', currentEpoch: context.currentEpoch, lastZxid: context.lastLogged, counted: params.counted },
      }),
    truncate: ({ context, event }) => context.io({ type: 'truncate', zxid: msgOf<'TRUNC'>(event).zxid }),
    noteTruncate: assign(({ context, event }) => ({
      lastReceived: msgOf<'TRUNC'>(event).zxid,
      storagePending: context.storagePending + 1,
    })),
    noteTruncated: assign(({ context, event }) => {
      const z = (event as Extract<PeerEvent, { type: 'TRUNCATED' }>).zxid;
      // A TRUNCATED nobody asked for (a stale completion) must not unbalance the count.
      return { lastLogged: context.lastLogged < z ? context.lastLogged : z, storagePending: Math.max(0, context.storagePending - 1) };
    }),
    beginSnapshot: assign(({ event }) => ({ snapshotZxid: msgOf<'SNAP'>(event).zxid })),
    passSnapshotChunk: ({ context, event }) => {
      const m = msgOf<'SNAPCHUNK'>(event);
      context.io({ type: 'snapshotChunk', offset: m.offset, data: m.data, last: m.last });
    },
    installSnapshot: ({ context, event }) => {
      const m = msgOf<'SNAPCHUNK'>(event);
      context.io({ type: 'installSnapshot', zxid: context.snapshotZxid, size: m.offset + m.data.length });
    },
    noteSnapshotInstalling: assign(({ context }) => ({
      lastReceived: context.snapshotZxid,
      storagePending: context.storagePending + 1,
    })),
    noteSnapshotInstalled: assign(({ context, event }) => {
      const z = (event as Extract<PeerEvent, { type: 'SNAPSHOT_INSTALLED' }>).zxid;
      return {
        lastLogged: z,
        committed: context.committed > z ? context.committed : z,
        delivered: z,
        storagePending: Math.max(0, context.storagePending - 1),
      };
    }),
    append: ({ context, event }) => context.io({ type: 'append', txns: msgOf<'PROPOSAL'>(event).txns }),
    noteReceived: assign(({ context, event }) => {
      const txns = msgOf<'PROPOSAL'>(event).txns;
      const last = txns.length === 0 ? context.lastReceived : txns[txns.length - 1]!.zxid;
      return last > context.lastReceived ? { lastReceived: last } : {};
    }),
    /** LOG_SYNCED: the log is durable up to its zxid; deliver what that makes ready (one assign for both). */
    noteLoggedAndDeliver: assign(({ context, event }) => {
      const z = (event as Extract<PeerEvent, { type: 'LOG_SYNCED' }>).zxid;
      return deliverWith(context, z > context.lastLogged ? { lastLogged: z } : {});
    }),
    /** COMMIT: the leader's commit point; deliver what that makes ready (one assign for both). */
    noteCommitAndDeliver: assign(({ context, event }) => {
      const z = msgOf<'COMMIT'>(event).zxid;
      return deliverWith(context, z > context.committed ? { committed: z } : {});
    }),
    /** LEADERACK: the leader's log is durable up to its zxid; deliver what that makes ready. */
    noteLeaderLoggedAndDeliver: assign(({ context, event }) => {
      const z = msgOf<'LEADERACK'>(event).zxid;
      return deliverWith(context, z > context.leaderLogged ? { leaderLogged: z } : {});
    }),
    notePingCommitAndDeliver: assign(({ context, event }) =>
      deliverWith(context, { committed: pingCommitPoint(context, msgOf<'PING'>(event).zxid) }),
    ),
    noteUpToDate: assign(({ context, event }) => {
      const z = msgOf<'UPTODATE'>(event).committed;
      return { committed: z > context.committed ? z : context.committed, synced: true };
    }),
    /** Apply what is both committed and durable here. */
    deliverReady: assign(({ context }) => deliverWith(context, {})),
    takeSyncTarget: assign(({ event }) => ({ syncTarget: msgOf<'NEWLEADER'>(event).zxid })),
    persistCurrentEpoch: ({ context }) => context.io({ type: 'persistCurrentEpoch', epoch: context.epoch }),
    noteCurrentEpoch: assign(({ context }) => ({ currentEpoch: context.epoch })),
    ackNewLeader: ({ context }) =>
      context.io({ type: 'send', to: context.leader, msg: { type: 'ACKNEWLEADER', epoch: context.epoch } }),
    ackLogged: ({ context, event }) =>
      context.io({ type: 'send', to: context.leader, msg: { type: 'ACK', zxid: (event as Extract<PeerEvent, { type: 'LOG_SYNCED' }>).zxid } }),
    answerPing: ({ context }) =>
      context.io({ type: 'send', to: context.leader, msg: { type: 'PING', zxid: context.lastLogged } }),
    forwardRequests: ({ context, event }) => {
      const requests = (event as Extract<PeerEvent, { type: 'CLIENT_REQUESTS' }>).requests;
      context.io({ type: 'send', to: context.leader, msg: { type: 'REQUEST', requests } });
    },
    watchLeader: ({ context, self }) =>
      context.io({ type: 'watchSilence', sid: context.leader, ms: leaderSilenceMs(context), owner: self.id }),
    unwatchLeader: ({ context, self }) => context.io({ type: 'unwatchSilence', sid: context.leader, owner: self.id }),
    forwardSync: ({ context, event }) => {
      const id = (event as Extract<PeerEvent, { type: 'CLIENT_SYNC' }>).id;
      context.io({ type: 'send', to: context.leader, msg: { type: 'SYNC', id } });
    },
    syncDone: ({ context, event }) => {
      const m = msgOf<'SYNCREPLY'>(event);
      context.io({ type: 'syncDone', id: m.id, zxid: m.zxid });
    },
    rejectRequests: ({ context, event }) => {
      const ids =
        event.type === 'CLIENT_REQUESTS' ? event.requests.map((r) => r.id) : event.type === 'CLIENT_SYNC' ? [event.id] : [];
      if (ids.length > 0) context.io({ type: 'rejectRequests', ids, reason: 'not serving yet: following, not synced' });
    },
    reportRole: ({ context }, params: { phase: string }) =>
      context.io({ type: 'role', role: 'following', phase: params.phase, leader: context.leader, epoch: context.currentEpoch }),
    fail: assign(({ context }, params: { reason: string }) => {
      context.io({ type: 'log', level: 'warn', msg: `follower of ${context.leader} gives up: ${params.reason}` });
      return { failure: params.reason };
    }),
    failWithEvent: assign(({ context, event }) => {
      let reason = `unexpected ${event.type === 'QUORUM_MESSAGE' ? event.msg.type : event.type}`;
      if (isQuorumMsg(event, 'PROPOSAL')) reason = proposalFault(context.lastReceived, msgOf<'PROPOSAL'>(event).txns, context.epoch) ?? reason;
      if (isQuorumMsg(event, 'COMMIT')) reason = `COMMIT ${formatZxid(msgOf<'COMMIT'>(event).zxid)} for a proposal never received (last ${formatZxid(context.lastReceived)})`;
      if (isQuorumMsg(event, 'NEWLEADER')) {
        const m = msgOf<'NEWLEADER'>(event);
        reason = `NEWLEADER epoch ${m.epoch} zxid ${formatZxid(m.zxid)} does not match epoch ${context.epoch} log ${formatZxid(context.lastReceived)}`;
      }
      if (isQuorumMsg(event, 'TRUNC')) reason = `TRUNC below what was already applied (${formatZxid(context.delivered)})`;
      context.io({ type: 'log', level: 'warn', msg: `follower of ${context.leader} gives up: ${reason}` });
      return { failure: reason };
    }),
  },
  delays: {
    connectRetry: ({ context }) => context.timing.connectRetryMs,
    initTimeout: ({ context }) => context.timing.initLimit * context.timing.tickTime,
  },
}).createMachine({
  id: 'follower',
  context: ({ input }) => ({
    self: input.self,
    leader: input.leader,
    timing: input.timing,
    io: input.io,
    acceptedEpoch: input.facts.acceptedEpoch,
    currentEpoch: input.facts.currentEpoch,
    epoch: input.facts.acceptedEpoch,
    lastReceived: input.facts.lastLogged,
    lastLogged: input.facts.lastLogged,
    committed: 0n,
    leaderLogged: 0n,
    pairQuorum: input.quorum.containsQuorum([input.self, input.leader]),
    delivered: 0n,
    storagePending: 0,
    syncTarget: 0n,
    snapshotZxid: 0n,
    synced: false,
    connectAttempts: 0,
    failure: '',
  }),
  initial: 'connecting',
  on: {
    CLIENT_REQUESTS: { actions: 'rejectRequests' },
    CLIENT_SYNC: { actions: 'rejectRequests' },
    // Durability news counts in every phase: it is what lets us ack and deliver.
    LOG_SYNCED: { actions: 'noteLoggedAndDeliver' },
    TRUNCATED: { actions: ['noteTruncated', 'deliverReady'] },
    SNAPSHOT_INSTALLED: { actions: ['noteSnapshotInstalled', 'deliverReady'] },
    PEER_DISCONNECTED: {
      guard: 'fromLeaderConnection',
      target: '.failed',
      actions: { type: 'fail', params: { reason: 'connection to the leader closed' } },
    },
  },
  states: {
    connecting: {
      initial: 'dialing',
      entry: { type: 'reportRole', params: { phase: 'connecting' } },
      states: {
        dialing: {
          entry: 'connect',
          after: {
            initTimeout: { target: '#follower.failed', actions: { type: 'fail', params: { reason: 'no answer from the leader within initLimit' } } },
          },
          on: {
            LEADER_CONNECTED: '#follower.session',
            LEADER_CONNECT_FAILED: { target: 'pausing', actions: 'countConnectAttempt' },
          },
        },
        pausing: {
          after: {
            connectRetry: [
              { guard: 'mayRetryConnect', target: 'dialing' },
              { target: '#follower.failed', actions: { type: 'fail', params: { reason: 'could not reach the leader within initLimit' } } },
            ],
          },
        },
      },
    },
    // One compound state, not a parallel one: a second region (the leader's liveness) would double
    // the interpreter's fixed cost on every message of the hot path (docs/performance.md). Any message
    // from the leader proves it alive: the runtime notes each one's arrival (watchSilence), so no timer
    // is re-armed per message here; silence past the limit ends the role.
    session: {
      initial: 'discovery',
      entry: 'watchLeader',
      exit: 'unwatchLeader',
      on: {
        PEER_SILENT: {
          guard: 'leaderIsSilent',
          target: '#follower.failed',
          actions: { type: 'fail', params: { reason: 'leader silent for too long' } },
        },
      },
      states: {
        discovery: {
          initial: 'awaitingLeaderInfo',
          entry: [{ type: 'reportRole', params: { phase: 'discovery' } }, 'sendFollowerInfo'],
          states: {
            awaitingLeaderInfo: {
              on: {
                // The leader may still be finishing its election and refuse us: try again
                // (ZooKeeper retries the connection for initLimit as well).
                PEER_DISCONNECTED: {
                  guard: and(['fromLeaderConnection', 'mayRetryConnect']),
                  target: '#follower.connecting.pausing',
                  actions: 'countConnectAttempt',
                },
                QUORUM_MESSAGE: [
                  { guard: 'isLeaderInfo', target: 'checkingEpoch', actions: 'takeEpoch' },
                  { target: '#follower.failed', actions: 'failWithEvent' },
                ],
              },
            },
            checkingEpoch: {
              always: [
                { guard: 'epochIsNew', target: 'persistingAcceptedEpoch' },
                {
                  guard: 'epochIsSame',
                  target: '#follower.session.synchronization',
                  actions: { type: 'sendAckEpoch', params: { counted: false } },
                },
                {
                  target: '#follower.failed',
                  actions: { type: 'fail', params: { reason: 'leader proposes an epoch older than one we accepted' } },
                },
              ],
            },
            persistingAcceptedEpoch: {
              entry: 'persistAcceptedEpoch',
              on: {
                ACCEPTED_EPOCH_PERSISTED: {
                  target: '#follower.session.synchronization',
                  actions: ['noteAcceptedEpoch', { type: 'sendAckEpoch', params: { counted: true } }],
                },
                QUORUM_MESSAGE: { target: '#follower.failed', actions: 'failWithEvent' },
              },
            },
          },
        },
        synchronization: {
          initial: 'awaitingMode',
          entry: { type: 'reportRole', params: { phase: 'synchronization' } },
          states: {
            awaitingMode: {
              on: {
                QUORUM_MESSAGE: [
                  { guard: 'isDiff', target: 'receiving' },
                  { guard: and(['isTrunc', 'truncKeepsCommitted']), target: 'receiving', actions: ['truncate', 'noteTruncate'] },
                  { guard: 'isSnap', target: 'receivingSnapshot', actions: 'beginSnapshot' },
                  { guard: 'isPing', actions: 'answerPing' },
                  { target: '#follower.failed', actions: 'failWithEvent' },
                ],
              },
            },
            receivingSnapshot: {
              on: {
                QUORUM_MESSAGE: [
                  {
                    guard: 'isLastSnapChunk',
                    target: 'receiving',
                    actions: ['passSnapshotChunk', 'installSnapshot', 'noteSnapshotInstalling'],
                  },
                  { guard: 'isSnapChunk', actions: 'passSnapshotChunk' },
                  { guard: 'isPing', actions: 'answerPing' },
                  { target: '#follower.failed', actions: 'failWithEvent' },
                ],
              },
            },
            receiving: {
              on: {
                QUORUM_MESSAGE: [
                  ...STREAM,
                  {
                    guard: and(['isNewLeader', 'newLeaderMatchesLog']),
                    target: 'awaitingDurableLog',
                    actions: ['takeSyncTarget', 'deliverReady'],
                  },
                  { target: '#follower.failed', actions: 'failWithEvent' },
                ],
              },
            },
            // NEWLEADER order (ZOOKEEPER-3911, 4643, 4646, 4785): the synced log durable and the
            // committed part applied, then currentEpoch persisted, and only then the ACK.
            awaitingDurableLog: {
              always: { guard: 'logDurableToTarget', target: 'persistingCurrentEpoch' },
              on: { QUORUM_MESSAGE: [...STREAM, { target: '#follower.failed', actions: 'failWithEvent' }] },
            },
            persistingCurrentEpoch: {
              entry: 'persistCurrentEpoch',
              on: {
                CURRENT_EPOCH_PERSISTED: { target: 'awaitingUpToDate', actions: ['noteCurrentEpoch', 'ackNewLeader'] },
                QUORUM_MESSAGE: [...STREAM, { target: '#follower.failed', actions: 'failWithEvent' }],
              },
            },
            awaitingUpToDate: {
              on: {
                LOG_SYNCED: { actions: ['ackLogged', 'noteLoggedAndDeliver'] },
                QUORUM_MESSAGE: [
                  {
                    guard: 'isUpToDate',
                    target: '#follower.session.broadcast',
                    // synced: from now on the leader's silence limit is the shorter one
                    actions: ['noteUpToDate', 'deliverReady', 'watchLeader'],
                  },
                  ...STREAM,
                  { target: '#follower.failed', actions: 'failWithEvent' },
                ],
              },
            },
          },
        },
        broadcast: {
          entry: { type: 'reportRole', params: { phase: 'broadcast' } },
          on: {
            LOG_SYNCED: { actions: ['ackLogged', 'noteLoggedAndDeliver'] },
            CLIENT_REQUESTS: { actions: 'forwardRequests' },
            CLIENT_SYNC: { actions: 'forwardSync' },
            QUORUM_MESSAGE: [
              // A COMMIT that LEADERACK already covered: nothing to assign, so no new context.
              { guard: and(['isCommit', 'commitIsSpent']) },
              // PING carries the leader's commit point: what the leader left out of COMMITs
              // (LEADERACK covered it) still arrives here if our quorum view ever differed.
              { guard: and(['isPing', 'pingCommitsMore']), actions: ['notePingCommitAndDeliver', 'answerPing'] },
              ...STREAM,
              { guard: 'isSyncReply', actions: 'syncDone' },
              { target: '#follower.failed', actions: 'failWithEvent' },
            ],
          },
        },
      },
    },
    failed: {
      type: 'final',
    },
  },
  output: ({ context }) => ({ reason: context.failure || 'follower stopped' }),
});

