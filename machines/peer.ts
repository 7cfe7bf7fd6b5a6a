/**
 * `peer`: the top of a server. It is looking, then following or leading, and back to looking when
 * the role ends (after settling storage). It owns the facts that outlive a role (acceptedEpoch,
 * currentEpoch, last logged zxid, election round) and learns them only from durable-completion
 * events, so what it votes with is always what is on disk.
 */
import { assign, forwardTo, setup, type AnyActorRef, type SnapshotFrom } from 'xstate';
import type { Notification, ServerId } from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';
import { followerMachine } from './follower.js';
import { handlerFor, leaderMachine, type LeaderContext } from './leader.js';
import { learnerHandlerMachine, relayOf, type HandlerReport } from './learner-handler.js';
import { lookingMachine, type ElectionResult } from './looking.js';
import type { Io, PeerEvent, PeerFacts, Timing } from './types.js';
import type { Vote } from './vote.js';

export interface PeerInput {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  facts: PeerFacts;
}

export interface PeerContext {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  facts: PeerFacts;
  round: number;
  leader: ServerId | null;
  /** the vote that elected the current leader: what we tell servers that are still looking */
  vote: Vote | null;
  elections: number;
  lastExit: string;
}

type NotificationEvent = Extract<PeerEvent, { type: 'NOTIFICATION' }>;

function replyTo(ctx: PeerContext, to: ServerId, state: Notification['state']): void {
  if (!ctx.vote) return;
  ctx.io({
    type: 'sendElection',
    to: [to],
    msg: { type: 'NOTIFICATION', leader: ctx.vote.leader, zxid: ctx.vote.zxid, peerEpoch: ctx.vote.peerEpoch, round: ctx.round, state },
  });
}

function roleInput(ctx: PeerContext) {
  return { self: ctx.self, quorum: ctx.quorum, timing: ctx.timing, io: ctx.io, facts: ctx.facts };
}

/**
 * Durable-completion events update the facts, then go on to the role. LOG_SYNCED (one per log write)
 * only goes on: the log's end reaches the facts through QUIESCED when the role ends, before anything
 * reads them again.
 */
const ROLE_EVENTS = {
  TRUNCATED: { actions: ['noteTruncated', 'forwardToRole'] },
  SNAPSHOT_INSTALLED: { actions: ['noteSnapshot', 'forwardToRole'] },
  ACCEPTED_EPOCH_PERSISTED: { actions: ['noteAcceptedEpoch', 'forwardToRole'] },
  CURRENT_EPOCH_PERSISTED: { actions: ['noteCurrentEpoch', 'forwardToRole'] },
  '*': { actions: 'forwardToRole' },
} as const;

export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    events: {} as PeerEvent,
    input: {} as PeerInput,
  },
  actors: { looking: lookingMachine, follower: followerMachine, leader: leaderMachine },
  guards: {
    electedSelf: ({ context, event }) => (event as unknown as { output: ElectionResult }).output.leader === context.self,
    fromLookingPeer: ({ event }) => (event as NotificationEvent).msg.state === 'LOOKING',
  },
  actions: {
    forwardToRole: forwardTo('role'),
    noteLogged: assign(({ context, event }) => {
      const z = (event as Extract<PeerEvent, { type: 'LOG_SYNCED' }>).zxid;
      return z > context.facts.lastLogged ? { facts: { ...context.facts, lastLogged: z } } : {};
    }),
    noteTruncated: assign(({ context, event }) => {
      const z = (event as Extract<PeerEvent, { type: 'TRUNCATED' }>).zxid;
      return z < context.facts.lastLogged ? { facts: { ...context.facts, lastLogged: z } } : {};
    }),
    noteSnapshot: assign(({ context, event }) => ({
      facts: { ...context.facts, lastLogged: (event as Extract<PeerEvent, { type: 'SNAPSHOT_INSTALLED' }>).zxid },
    })),
    noteAcceptedEpoch: assign(({ context, event }) => ({
      facts: { ...context.facts, acceptedEpoch: (event as Extract<PeerEvent, { type: 'ACCEPTED_EPOCH_PERSISTED' }>).epoch },
    })),
    noteCurrentEpoch: assign(({ context, event }) => ({
      facts: { ...context.facts, currentEpoch: (event as Extract<PeerEvent, { type: 'CURRENT_EPOCH_PERSISTED' }>).epoch },
    })),
    noteQuiesced: assign(({ context, event }) => {
      const e = event as Extract<PeerEvent, { type: 'QUIESCED' }>;
      return { facts: { ...context.facts, lastLogged: e.lastLogged, history: e.history } };
    }),
    noteElected: assign(({ context, event }) => {
      const r = (event as unknown as { output: ElectionResult }).output;
      return { leader: r.leader, vote: r.vote, round: r.round, elections: context.elections + 1 };
    }),
    noteExit: assign(({ event }) => ({ lastExit: (event as unknown as { output?: { reason: string } }).output?.reason ?? 'role ended' })),
    forgetLeader: assign({ leader: null, vote: null }),
    replyFollowing: ({ context, event }) => replyTo(context, (event as NotificationEvent).from, 'FOLLOWING'),
    replyLeading: ({ context, event }) => replyTo(context, (event as NotificationEvent).from, 'LEADING'),
    quiesce: ({ context }) => context.io({ type: 'quiesce', reason: context.lastExit }),
    refuseLearner: ({ context, event }) => {
      if (event.type === 'QUORUM_MESSAGE') context.io({ type: 'disconnect', sid: event.from, reason: 'not leading' });
    },
    rejectRequests: ({ context, event }) => {
      const ids =
        event.type === 'CLIENT_REQUESTS' ? event.requests.map((r) => r.id) : event.type === 'CLIENT_SYNC' ? [event.id] : [];
      if (ids.length > 0) context.io({ type: 'rejectRequests', ids, reason: 'not serving: election in progress' });
    },
    reportLooking: ({ context }) =>
      context.io({ type: 'role', role: 'looking', phase: 'election', leader: null, epoch: context.facts.currentEpoch }),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    self: input.self,
    quorum: input.quorum,
    timing: input.timing,
    io: input.io,
    facts: input.facts,
    round: 0,
    leader: null,
    vote: null,
    elections: 0,
    lastExit: '',
  }),
  initial: 'looking',
  states: {
    looking: {
      entry: ['forgetLeader', 'reportLooking'],
      invoke: {
        id: 'role',
        src: 'looking',
        input: ({ context }) => ({
          self: context.self,
          quorum: context.quorum,
          timing: context.timing,
          io: context.io,
          round: context.round,
          own: { leader: context.self, zxid: context.facts.lastLogged, peerEpoch: context.facts.currentEpoch },
        }),
        onDone: [
          { guard: 'electedSelf', target: 'leading', actions: 'noteElected' },
          { target: 'following', actions: 'noteElected' },
        ],
      },
      on: {
        QUORUM_MESSAGE: { actions: 'refuseLearner' },
        CLIENT_REQUESTS: { actions: 'rejectRequests' },
        CLIENT_SYNC: { actions: 'rejectRequests' },
        NOTIFICATION: { actions: 'forwardToRole' },
      },
    },
    following: {
      invoke: {
        id: 'role',
        src: 'follower',
        input: ({ context }) => ({ ...roleInput(context), leader: context.leader! }),
        onDone: { target: 'quiescing', actions: 'noteExit' },
      },
      on: {
        NOTIFICATION: { guard: 'fromLookingPeer', actions: 'replyFollowing' },
        ...ROLE_EVENTS,
      },
    },
    leading: {
      invoke: {
        id: 'role',
        src: 'leader',
        input: ({ context }) => roleInput(context),
        onDone: { target: 'quiescing', actions: 'noteExit' },
      },
      on: {
        NOTIFICATION: { guard: 'fromLookingPeer', actions: 'replyLeading' },
        ...ROLE_EVENTS,
      },
    },
    // Settle storage before voting again: the vote must name what is durable, nothing in flight.
    quiescing: {
      entry: 'quiesce',
      on: {
        QUIESCED: { target: 'looking', actions: 'noteQuiesced' },
        QUORUM_MESSAGE: { actions: 'refuseLearner' },
        CLIENT_REQUESTS: { actions: 'rejectRequests' },
        CLIENT_SYNC: { actions: 'rejectRequests' },
        LOG_SYNCED: { actions: 'noteLogged' },
        TRUNCATED: { actions: 'noteTruncated' },
        SNAPSHOT_INSTALLED: { actions: 'noteSnapshot' },
        ACCEPTED_EPOCH_PERSISTED: { actions: 'noteAcceptedEpoch' },
        CURRENT_EPOCH_PERSISTED: { actions: 'noteCurrentEpoch' },
      },
    },
  },
});

/** Events that following/leading only pass on to the role (their '*' transition), in the hot path. */
const PASSED_ON: Partial<Record<PeerEvent['type'], true>> = { QUORUM_MESSAGE: true, LOG_SYNCED: true, CLIENT_REQUESTS: true };

/** Where an event from the runtime takes effect: the actor, and the event as that actor gets it. */
export interface Delivery {
  actor: AnyActorRef;
  event: PeerEvent | HandlerReport;
}

/**
 * Where an event from the runtime takes effect. While following or leading, the peer only passes
 * QUORUM_MESSAGE, LOG_SYNCED and CLIENT_REQUESTS on to its role; the leader passes a known learner's
 * messages on to that learner's handler, and a synced learner's handler only relays its ACK, REQUEST
 * and SYNC to the leader (`relayOf`). Delivering the event there directly has the same outcome (the
 * same transitions, in the same order) with one to three macrosteps fewer per event. Null when the
 * peer itself has to take it (other events, looking, quiescing, the role not running).
 */
export function deliveryTarget(peer: SnapshotFrom<typeof peerMachine>, event: PeerEvent): Delivery | null {
  if (peer.status !== 'active' || (peer.value !== 'following' && peer.value !== 'leading')) return null;
  if (PASSED_ON[event.type] !== true) return null;
  const role = peer.children.role as AnyActorRef | undefined;
  if (!role) return null;
  const snap = role.getSnapshot() as { status: string; context: unknown };
  if (snap.status !== 'active') return null;
  if (peer.value === 'following') return { actor: role, event };
  const handler = handlerFor(snap.context as LeaderContext, event) as AnyActorRef | null;
  if (!handler) return { actor: role, event };
  const hs = handler.getSnapshot() as SnapshotFrom<typeof learnerHandlerMachine>;
  if (hs.status !== 'active') return { actor: role, event };
  const report = relayOf(hs, event);
  return report ? { actor: role, event: report } : { actor: handler, event };
}
