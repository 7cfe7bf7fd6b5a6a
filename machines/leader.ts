/**
 * `leader`: one leadership, from discovery to abdication. Discovery picks a new epoch from a quorum
 * of acceptedEpochs and waits for a quorum of ACKEPOCH (abandoning if a learner is ahead);
 * synchronization streams each learner's DIFF/TRUNC/SNAP and NEWLEADER; a quorum of NEWLEADER
 * acks establishes the epoch and commits the whole history; broadcast assigns zxids in order,
 * commits strictly in order when the quorum system says so, and takes learners in mid-stream.
 * One `learnerHandler` actor per connected learner does the per-learner protocol.
 */
import { assign, sendTo, setup, type ActorRefFrom } from 'xstate';
import { counterOf, epochOf, epochStart, formatZxid, MAX_COUNTER, type Zxid } from '../src/zxid.js';
import type { ForwardedRequest, ServerId } from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';
import { largestQuorumValue } from '../src/quorum/commit-point.js';
import { learnerHandlerMachine, type HandlerReport } from './learner-handler.js';
import { planSync, withCurrentEpoch } from './sync-plan.js';
import type { Io, LogHistory, PeerEvent, PeerFacts, Timing } from './types.js';

export interface LeaderInput {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  facts: PeerFacts;
}

export interface LeaderOutput {
  reason: string;
}

type Phase = 'info' | 'ackedEpoch' | 'syncing' | 'synced';

export interface LearnerEntry {
  ref: ActorRefFrom<typeof learnerHandlerMachine>;
  phase: Phase;
  acceptedEpoch: number;
  lastZxid: Zxid;
  /** the leader's last zxid when this learner's sync was streamed: its NEWLEADER ack covers it */
  syncTarget: Zxid;
}

export interface PendingSync {
  id: string;
  /** the learner that asked, or null for a client of this server */
  sid: ServerId | null;
  /** answered once everything proposed before the request is committed */
  after: Zxid;
}

export interface LeaderContext {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  acceptedEpoch: number;
  currentEpoch: number;
  history: LogHistory;
  /** last zxid durable in our own log: our own ack */
  lastLogged: Zxid;
  /** the epoch we lead, once chosen */
  epoch: number;
  epochAnnounced: boolean;
  syncAllowed: boolean;
  learners: Record<ServerId, LearnerEntry>;
  handlerSeq: number;
  /** learners whose ACKEPOCH counts toward the epoch's quorum */
  epochAckers: ServerId[];
  /** cumulative acks of learners that acked NEWLEADER */
  acks: Record<ServerId, Zxid>;
  lastProposed: Zxid;
  committed: Zxid;
  /**
   * Every synced learner that forms a quorum with us has been sent a LEADERACK of at least this:
   * commits up to it need no COMMIT to them (each commits what both of us logged on its own).
   */
  sharedLogged: Zxid;
  delivered: Zxid;
  syncs: PendingSync[];
  failure: string;
}

type Ev<T extends string> = Extract<LeaderEvent, { type: T }>;
export type LeaderEvent = PeerEvent | HandlerReport;

function quorumWithSelf(ctx: LeaderContext, sids: Iterable<ServerId>): boolean {
  return ctx.quorum.containsQuorum([ctx.self, ...sids]);
}

/** The learner a transport event is about (its handler takes it), or null for other events. */
function learnerOf(event: LeaderEvent): ServerId | null {
  if (event.type === 'QUORUM_MESSAGE') return event.from;
  if (event.type === 'PEER_DISCONNECTED' || event.type === 'PEER_SILENT') return event.sid;
  return null;
}

function forwarding(ctx: LeaderContext): ServerId[] {
  const to: ServerId[] = [];
  for (const key in ctx.learners) {
    const phase = ctx.learners[key]!.phase;
    if (phase === 'syncing' || phase === 'synced') to.push(Number(key));
  }
  return to;
}

function syncedLearners(ctx: LeaderContext): ServerId[] {
  return Object.keys(ctx.learners)
    .map(Number)
    .filter((s) => ctx.learners[s]!.phase === 'synced');
}

/** True when (epoch, zxid) of a learner is newer than ours: the election chose wrongly. */
function learnerAhead(ctx: LeaderContext, currentEpoch: number, lastZxid: Zxid): boolean {
  return currentEpoch > ctx.currentEpoch || (currentEpoch === ctx.currentEpoch && lastZxid > ctx.lastLogged);
}

function withoutLearner(ctx: LeaderContext, sid: ServerId): Partial<LeaderContext> {
  const learners = { ...ctx.learners };
  delete learners[sid];
  const acks = { ...ctx.acks };
  delete acks[sid];
  return { learners, acks, epochAckers: ctx.epochAckers.filter((s) => s !== sid) };
}

/** The highest zxid that a quorum (ourselves included, by our durable log) has acked. */
export function quorumCommitPoint(ctx: LeaderContext, lastLogged = ctx.lastLogged, acks = ctx.acks): Zxid {
  const acked = new Map<number, bigint>();
  acked.set(ctx.self, lastLogged);
  for (const key in acks) acked.set(Number(key), acks[key]!);
  return largestQuorumValue(acked, ctx.quorum) ?? ctx.committed;
}

const NO_PROGRESS: Partial<LeaderContext> = Object.freeze({});

/** The ACK is above what a learner that acked NEWLEADER has acked so far (others' ACKs count for nothing). */
function ackMovesLearner(ctx: LeaderContext, sid: ServerId, zxid: Zxid): boolean {
  const prev = ctx.acks[sid];
  return prev !== undefined && zxid > prev;
}

/**
 * What an event tells about durable progress: our own LOG_SYNCED moves lastLogged, the ACK of a
 * learner that acked NEWLEADER moves its cumulative ack. Nothing for any other event (or an old zxid).
 */
export function progressOf(ctx: LeaderContext, event: LeaderEvent): Partial<LeaderContext> {
  if (event.type === 'LOG_SYNCED') return event.zxid > ctx.lastLogged ? { lastLogged: event.zxid } : NO_PROGRESS;
  if (event.type === 'LEARNER_ACK') {
    if (!ackMovesLearner(ctx, event.sid, event.zxid)) return NO_PROGRESS;
    return { acks: { ...ctx.acks, [event.sid]: event.zxid } };
  }
  return NO_PROGRESS;
}

/** A synced learner that forms a quorum with us: it gets our LEADERACKs and commits by them. */
function sharesLogged(ctx: LeaderContext, sid: ServerId): boolean {
  return ctx.learners[sid]?.phase === 'synced' && ctx.quorum.containsQuorum([ctx.self, sid]);
}

/**
 * After our own log write: if it left something durable here but not yet committed, tell the
 * followers that form a quorum with us (LEADERACK). Each commits what both of us have logged as soon
 * as its own write is durable, without its ACK coming here and COMMIT going back; the COMMITs it
 * covers are not sent to them. `to` picks the recipients (the planted bug widens it).
 */
export function shareLogged(
  ctx: LeaderContext,
  patch: Partial<LeaderContext>,
  to: (ctx: LeaderContext, sid: ServerId) => boolean = sharesLogged,
): Partial<LeaderContext> {
  const lastLogged = patch.lastLogged ?? ctx.lastLogged;
  const committed = patch.committed ?? ctx.committed;
  if (lastLogged <= committed) return patch;
  const sids: ServerId[] = [];
  for (const key in ctx.learners) if (to(ctx, Number(key))) sids.push(Number(key));
  if (sids.length === 0) return patch;
  ctx.io({ type: 'broadcast', to: sids, msg: { type: 'LEADERACK', zxid: lastLogged } });
  patch.sharedLogged = lastLogged;
  return patch;
}

/**
 * Moves the commit point to `point` (never past what was proposed, never backwards): tells the
 * learners, delivers what is also durable here, and answers syncs that waited for it.
 */
export function commitUpTo(ctx: LeaderContext, point: Zxid, lastLogged = ctx.lastLogged): Partial<LeaderContext> {
  let committed = point > ctx.lastProposed ? ctx.lastProposed : point;
  const patch: Partial<LeaderContext> = {};
  if (committed > ctx.committed) {
    patch.committed = committed;
    const to = committed <= ctx.sharedLogged ? forwarding(ctx).filter((sid) => !sharesLogged(ctx, sid)) : forwarding(ctx);
    if (to.length > 0) ctx.io({ type: 'broadcast', to, msg: { type: 'COMMIT', zxid: committed } });
  } else committed = ctx.committed;
  const deliverable = committed < lastLogged ? committed : lastLogged;
  if (deliverable > ctx.delivered) {
    ctx.io({ type: 'deliver', upTo: deliverable });
    patch.delivered = deliverable;
  }
  if (ctx.syncs.length > 0 && ctx.syncs[0]!.after <= committed) {
    const remaining: PendingSync[] = [];
    for (const s of ctx.syncs) {
      if (s.after > committed) remaining.push(s);
      else if (s.sid === null) ctx.io({ type: 'syncDone', id: s.id, zxid: s.after });
      else ctx.io({ type: 'send', to: s.sid, msg: { type: 'SYNCREPLY', id: s.id, zxid: s.after } });
    }
    patch.syncs = remaining;
  }
  return patch;
}

/**
 * The handler a learner's message goes to when all the leader would do with it is pass it on (every
 * QUORUM_MESSAGE from a known learner but FOLLOWERINFO): the runtime may deliver it there directly,
 * with the same outcome and one macrostep fewer. Null when the leader itself has to look at it.
 */
export function handlerFor(ctx: LeaderContext, event: PeerEvent): LearnerEntry['ref'] | null {
  if (event.type !== 'QUORUM_MESSAGE' || event.msg.type === 'FOLLOWERINFO') return null;
  return ctx.learners[event.from]?.ref ?? null;
}

/** Requests from clients here or forwarded by learners: propose them, or step down at counter exhaustion. */
const PROPOSE = [
  {
    guard: 'counterWouldExhaust',
    target: 'failed',
    actions: [
      { type: 'rejectRequests', params: { reason: 'zxid counter exhausted: a new epoch is being elected' } },
      { type: 'fail', params: { reason: 'zxid counter exhausted (ZOOKEEPER-1277)' } },
    ],
  },
  { actions: 'propose' },
] as const;

export const leaderMachine = setup({
  types: {
    context: {} as LeaderContext,
    events: {} as LeaderEvent,
    input: {} as LeaderInput,
    output: {} as LeaderOutput,
  },
  actors: { learnerHandler: learnerHandlerMachine },
  guards: {
    ackIsSpent: ({ context, event }) => {
      const e = event as Ev<'LEARNER_ACK'>;
      return e.zxid <= context.committed || !ackMovesLearner(context, e.sid, e.zxid);
    },
    isFollowerInfo: ({ event }) => event.type === 'QUORUM_MESSAGE' && event.msg.type === 'FOLLOWERINFO',
    fromKnownLearner: ({ context, event }) => {
      const sid = learnerOf(event);
      return sid !== null && context.learners[sid] !== undefined;
    },
    epochQuorum: ({ context }) =>
      quorumWithSelf(context, Object.keys(context.learners).map(Number)),
    epochAckQuorum: ({ context }) => quorumWithSelf(context, context.epochAckers),
    newLeaderQuorum: ({ context }) => quorumWithSelf(context, syncedLearners(context)),
    learnerAhead: ({ context, event }) => {
      const e = event as Ev<'LEARNER_ACKED_EPOCH'>;
      return learnerAhead(context, e.currentEpoch, e.lastZxid);
    },
    wrongNewLeaderEpoch: ({ context, event }) => (event as Ev<'LEARNER_ACKED_NEWLEADER'>).epoch !== context.epoch,
    /** Losing this learner (if it is really gone, not replaced by a reconnect) leaves no quorum. */
    quorumLostWithout: ({ context, event }) => {
      const sid = (event as Ev<'LEARNER_LOST'>).sid;
      const entry = context.learners[sid];
      if (!entry || entry.ref.getSnapshot().status === 'active') return false;
      return !quorumWithSelf(context, syncedLearners(context).filter((s) => s !== sid));
    },
    counterWouldExhaust: ({ context, event }) => {
      const n = event.type === 'CLIENT_REQUESTS' ? event.requests.length : (event as Ev<'LEARNER_REQUESTS'>).requests.length;
      const used = epochOf(context.lastProposed) === context.epoch ? counterOf(context.lastProposed) : 0;
      return used + n > MAX_COUNTER;
    },
  },
  actions: {
    spawnHandler: assign(({ context, event, spawn }) => {
      const e = event as Extract<PeerEvent, { type: 'QUORUM_MESSAGE' }>;
      if (e.msg.type !== 'FOLLOWERINFO') return {};
      const old = context.learners[e.from];
      if (old) old.ref.send({ type: 'STOP', reason: 'learner reconnected' });
      const ref = spawn('learnerHandler', {
        id: `learner-${e.from}-${context.handlerSeq}`,
        input: { sid: e.from, acceptedEpoch: e.msg.acceptedEpoch, lastZxid: e.msg.lastZxid, timing: context.timing, io: context.io },
      });
      const entry: LearnerEntry = { ref, phase: 'info', acceptedEpoch: e.msg.acceptedEpoch, lastZxid: e.msg.lastZxid, syncTarget: 0n };
      return {
        ...withoutLearner(context, e.from),
        learners: { ...withoutLearner(context, e.from).learners, [e.from]: entry },
        handlerSeq: context.handlerSeq + 1,
      };
    }),
    routeToHandler: sendTo(
      ({ context, event }) => context.learners[learnerOf(event)!]!.ref,
      ({ event }) => event as PeerEvent,
    ),
    refuseStranger: ({ context, event }) => {
      if (event.type === 'QUORUM_MESSAGE')
        context.io({ type: 'disconnect', sid: event.from, reason: `${event.msg.type} before FOLLOWERINFO` });
    },
    chooseEpoch: assign(({ context }) => {
      let max = context.acceptedEpoch;
      for (const key in context.learners) max = Math.max(max, context.learners[key]!.acceptedEpoch);
      return { epoch: max + 1 };
    }),
    persistAcceptedEpoch: ({ context }) => context.io({ type: 'persistAcceptedEpoch', epoch: context.epoch }),
    announceEpoch: assign(({ context }) => {
      for (const key in context.learners) context.learners[key]!.ref.send({ type: 'NEW_EPOCH', epoch: context.epoch });
      return { acceptedEpoch: context.epoch, epochAnnounced: true };
    }),
    noteLearnerInfo: ({ context, event }) => {
      // A learner that arrives after the epoch was announced gets it at once.
      const e = event as Ev<'LEARNER_INFO'>;
      if (context.epochAnnounced) context.learners[e.sid]?.ref.send({ type: 'NEW_EPOCH', epoch: context.epoch });
    },
    noteEpochAck: assign(({ context, event }) => {
      const e = event as Ev<'LEARNER_ACKED_EPOCH'>;
      const entry = context.learners[e.sid];
      if (!entry) return {};
      return {
        learners: { ...context.learners, [e.sid]: { ...entry, phase: 'ackedEpoch' as Phase, lastZxid: e.lastZxid } },
        epochAckers: e.counted && !context.epochAckers.includes(e.sid) ? [...context.epochAckers, e.sid] : context.epochAckers,
      };
    }),
    persistCurrentEpoch: ({ context }) => context.io({ type: 'persistCurrentEpoch', epoch: context.epoch }),
    noteCurrentEpoch: assign(({ context }) => ({ currentEpoch: context.epoch, syncAllowed: true })),
    /**
     * Streams the sync of every learner that acked the epoch and is not yet syncing. The plan, the
     * sync target and the learner's place in the proposal stream are fixed in one step, so no
     * proposal can fall between its sync and the broadcast (ZooKeeper's TLA+ finding: propose to
     * learners that acked the epoch, not only to those that acked NEWLEADER).
     */
    startSyncs: assign(({ context }) => {
      if (!context.syncAllowed) return {};
      const history = withCurrentEpoch(context.history, context.epoch, context.lastProposed);
      let learners = context.learners;
      for (const key in context.learners) {
        const sid = Number(key);
        const entry = context.learners[sid]!;
        if (entry.phase !== 'ackedEpoch') continue;
        const plan = planSync(history, entry.lastZxid);
        const upTo = context.lastProposed;
        context.io({ type: 'syncLearner', sid, plan, upTo, committed: context.committed });
        context.io({ type: 'send', to: sid, msg: { type: 'NEWLEADER', epoch: context.epoch, zxid: upTo } });
        context.io({
          type: 'log',
          level: 'info',
          msg: `sync learner ${sid} by ${plan.mode}`,
          data: { sid, plan: plan.mode, learnerLast: formatZxid(entry.lastZxid), upTo: formatZxid(upTo) },
        });
        learners = { ...learners, [sid]: { ...entry, phase: 'syncing', syncTarget: upTo } };
      }
      return { learners };
    }),
    noteNewLeaderAck: assign(({ context, event }) => {
      const e = event as Ev<'LEARNER_ACKED_NEWLEADER'>;
      const entry = context.learners[e.sid];
      if (!entry || entry.phase !== 'syncing') return {};
      return {
        learners: { ...context.learners, [e.sid]: { ...entry, phase: 'synced' as Phase } },
        acks: { ...context.acks, [e.sid]: entry.syncTarget },
        // it got none of our earlier LEADERACKs: COMMITs go to everyone until the next one
        sharedLogged: 0n,
      };
    }),
    sendUpToDate: ({ context, event }) => {
      const e = event as Ev<'LEARNER_ACKED_NEWLEADER'>;
      if (context.learners[e.sid]?.phase === 'synced')
        context.io({ type: 'send', to: e.sid, msg: { type: 'UPTODATE', committed: context.committed } });
    },
    /** A quorum holds our whole history durably under the new epoch: it is all committed. */
    establish: assign(({ context }) => {
      context.io({ type: 'established', epoch: context.epoch, zxid: context.lastProposed });
      const committed = context.lastProposed;
      const synced = syncedLearners(context);
      if (synced.length > 0) context.io({ type: 'broadcast', to: synced, msg: { type: 'UPTODATE', committed } });
      context.io({ type: 'role', role: 'leading', phase: 'broadcast', leader: context.self, epoch: context.epoch });
      context.io({ type: 'log', level: 'info', msg: `established epoch ${context.epoch}`, data: { committed: formatZxid(committed), learners: synced } });
      return { committed };
    }),
    propose: assign(({ context, event }) => {
      const requests: ForwardedRequest[] =
        event.type === 'CLIENT_REQUESTS' ? event.requests : (event as Ev<'LEARNER_REQUESTS'>).requests;
      if (requests.length === 0) return {};
      const base = epochOf(context.lastProposed) === context.epoch ? context.lastProposed : epochStart(context.epoch);
      const first = base + 1n;
      context.io({ type: 'propose', first, requests, to: forwarding(context) });
      return { lastProposed: base + BigInt(requests.length) };
    }),
    rejectRequests: ({ context, event }, params: { reason: string }) => {
      const ids =
        event.type === 'CLIENT_REQUESTS'
          ? event.requests.map((r) => r.id)
          : event.type === 'LEARNER_REQUESTS'
            ? event.requests.map((r) => r.id)
            : event.type === 'CLIENT_SYNC'
              ? [event.id]
              : [];
      if (ids.length > 0) context.io({ type: 'rejectRequests', ids, reason: params.reason });
    },
    /** Our own durable progress, before there is anything to commit (advanceCommit does both later). */
    noteLogged: assign(({ context, event }) => progressOf(context, event)),
    queueSync: assign(({ context, event }) => {
      const sync: PendingSync =
        event.type === 'CLIENT_SYNC'
          ? { id: event.id, sid: null, after: context.lastProposed }
          : { id: (event as Ev<'LEARNER_SYNC'>).id, sid: (event as Ev<'LEARNER_SYNC'>).sid, after: context.lastProposed };
      return { syncs: [...context.syncs, sync] };
    }),
    /**
     * Takes the event's progress (our own LOG_SYNCED, a learner's ACK), then commits the highest zxid
     * a quorum has durably logged, in order, and delivers it; after our own write, shares it
     * (LEADERACK). One assign for all: each assign costs the statechart a context copy and a new
     * snapshot, and this runs for every log write and ACK.
     */
    advanceCommit: assign(({ context, event }) => {
      const progress = progressOf(context, event);
      const lastLogged = progress.lastLogged ?? context.lastLogged;
      const point = quorumCommitPoint(context, lastLogged, progress.acks ?? context.acks);
      const patch = { ...progress, ...commitUpTo(context, point, lastLogged) };
      return event.type === 'LOG_SYNCED' ? shareLogged(context, patch) : patch;
    }),
    ping: ({ context }) => {
      const to = forwarding(context);
      if (to.length > 0) context.io({ type: 'broadcast', to, msg: { type: 'PING', zxid: context.committed } });
    },
    dropLearner: assign(({ context, event }) => {
      const e = event as Ev<'LEARNER_LOST'>;
      context.io({ type: 'log', level: 'info', msg: `learner ${e.sid} lost: ${e.reason}` });
      const entry = context.learners[e.sid];
      // A handler we already replaced (reconnect) reports its loss late: keep the new one.
      if (!entry || entry.ref.getSnapshot().status === 'active') return {};
      return withoutLearner(context, e.sid);
    }),
    fail: assign(({ context }, params: { reason: string }) => {
      context.io({ type: 'log', level: 'warn', msg: `leader of epoch ${context.epoch} steps down: ${params.reason}` });
      return { failure: params.reason };
    }),
    failWithEvent: assign(({ context, event }) => {
      let reason = `unexpected ${event.type}`;
      if (event.type === 'LEARNER_ACKED_EPOCH')
        reason = `learner ${event.sid} is ahead (epoch ${event.currentEpoch}, zxid ${formatZxid(event.lastZxid)})`;
      context.io({ type: 'log', level: 'warn', msg: `leader of epoch ${context.epoch} steps down: ${reason}` });
      return { failure: reason };
    }),
    reportPhase: ({ context }, params: { phase: string }) =>
      context.io({ type: 'role', role: 'leading', phase: params.phase, leader: context.self, epoch: context.epoch || context.currentEpoch }),
  },
  delays: {
    initTimeout: ({ context }) => context.timing.initLimit * context.timing.tickTime,
    pingInterval: ({ context }) => Math.max(1, Math.floor(context.timing.tickTime / 2)),
  },
}).createMachine({
  id: 'leader',
  context: ({ input }) => ({
    self: input.self,
    quorum: input.quorum,
    timing: input.timing,
    io: input.io,
    acceptedEpoch: input.facts.acceptedEpoch,
    currentEpoch: input.facts.currentEpoch,
    history: input.facts.history,
    lastLogged: input.facts.lastLogged,
    epoch: 0,
    epochAnnounced: false,
    syncAllowed: false,
    learners: {},
    handlerSeq: 0,
    epochAckers: [],
    acks: {},
    lastProposed: input.facts.lastLogged,
    committed: 0n,
    sharedLogged: 0n,
    delivered: 0n,
    syncs: [],
    failure: '',
  }),
  initial: 'discovery',
  on: {
    QUORUM_MESSAGE: [
      { guard: 'isFollowerInfo', actions: 'spawnHandler' },
      { guard: 'fromKnownLearner', actions: 'routeToHandler' },
      { actions: 'refuseStranger' },
    ],
    PEER_DISCONNECTED: { guard: 'fromKnownLearner', actions: 'routeToHandler' },
    PEER_SILENT: { guard: 'fromKnownLearner', actions: 'routeToHandler' },
    LEARNER_INFO: { actions: 'noteLearnerInfo' },
    LEARNER_ACKED_EPOCH: { actions: ['noteEpochAck', 'startSyncs'] },
    LEARNER_ACKED_NEWLEADER: [
      { guard: 'wrongNewLeaderEpoch', actions: 'dropLearner' },
      { actions: 'noteNewLeaderAck' },
    ],
    LEARNER_LOST: { actions: 'dropLearner' },
    LOG_SYNCED: { actions: 'noteLogged' },
    CLIENT_REQUESTS: { actions: { type: 'rejectRequests', params: { reason: 'not serving yet: leader not established' } } },
    LEARNER_REQUESTS: { actions: { type: 'rejectRequests', params: { reason: 'not serving yet: leader not established' } } },
    CLIENT_SYNC: { actions: { type: 'rejectRequests', params: { reason: 'not serving yet: leader not established' } } },
  },
  states: {
    discovery: {
      entry: { type: 'reportPhase', params: { phase: 'discovery' } },
      after: {
        initTimeout: { target: 'failed', actions: { type: 'fail', params: { reason: 'no quorum of learners within initLimit' } } },
      },
      initial: 'gatheringEpochs',
      states: {
        gatheringEpochs: {
          always: { guard: 'epochQuorum', target: 'persistingAcceptedEpoch', actions: 'chooseEpoch' },
        },
        persistingAcceptedEpoch: {
          entry: 'persistAcceptedEpoch',
          on: { ACCEPTED_EPOCH_PERSISTED: { target: 'awaitingEpochAcks', actions: 'announceEpoch' } },
        },
        awaitingEpochAcks: {
          always: { guard: 'epochAckQuorum', target: 'persistingCurrentEpoch' },
          on: {
            LEARNER_ACKED_EPOCH: [
              { guard: 'learnerAhead', target: '#leader.failed', actions: 'failWithEvent' },
              { actions: 'noteEpochAck' },
            ],
          },
        },
        persistingCurrentEpoch: {
          entry: 'persistCurrentEpoch',
          on: {
            LEARNER_ACKED_EPOCH: [
              { guard: 'learnerAhead', target: '#leader.failed', actions: 'failWithEvent' },
              { actions: 'noteEpochAck' },
            ],
            CURRENT_EPOCH_PERSISTED: { target: '#leader.synchronization', actions: ['noteCurrentEpoch', 'startSyncs'] },
          },
        },
      },
    },
    synchronization: {
      entry: { type: 'reportPhase', params: { phase: 'synchronization' } },
      after: {
        initTimeout: { target: 'failed', actions: { type: 'fail', params: { reason: 'no quorum acked NEWLEADER within initLimit' } } },
      },
      always: { guard: 'newLeaderQuorum', target: 'broadcast', actions: ['establish', 'advanceCommit'] },
    },
    // Compound, not parallel: the heartbeat is its only child, and a parallel state costs the
    // interpreter more on every message of the hot path.
    broadcast: {
      initial: 'heartbeat',
      on: {
        CLIENT_REQUESTS: PROPOSE,
        LEARNER_REQUESTS: PROPOSE,
        LOG_SYNCED: { actions: 'advanceCommit' },
        // An ACK at or below the commit point can never help a later one (acks are cumulative):
        // taken without an assign, so the statechart makes no new context for it.
        LEARNER_ACK: [{ guard: 'ackIsSpent' }, { actions: 'advanceCommit' }],
        LEARNER_ACKED_NEWLEADER: [
          { guard: 'wrongNewLeaderEpoch', actions: 'dropLearner' },
          { actions: ['noteNewLeaderAck', 'sendUpToDate', 'advanceCommit'] },
        ],
        LEARNER_SYNC: { actions: ['queueSync', 'advanceCommit'] },
        CLIENT_SYNC: { actions: ['queueSync', 'advanceCommit'] },
        LEARNER_LOST: [
          {
            guard: 'quorumLostWithout',
            target: 'failed',
            actions: ['dropLearner', { type: 'fail', params: { reason: 'synced learners no longer form a quorum' } }],
          },
          { actions: 'dropLearner' },
        ],
      },
      states: {
        heartbeat: { after: { pingInterval: { target: 'heartbeat', reenter: true, actions: 'ping' } } },
      },
    },
    // Stopping this machine stops its handlers; the runtime's quiesce closes their connections.
    failed: { type: 'final' },
  },
  output: ({ context }) => ({ reason: context.failure || 'leader stopped' }),
});
