/**
 * `looking`: fast leader election (ZooKeeper's FastLeaderElection). The server votes for itself,
 * adopts better votes (peerEpoch, then zxid, then sid), and decides once the votes equal to its own
 * form a quorum and no better vote arrives within finalizeWait. A server joining an ensemble that
 * already has a leader decides from the FOLLOWING/LEADING servers' answers instead.
 */
import { assign, setup } from 'xstate';
import type { Notification, ServerId } from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';
import type { Io, PeerEvent, Timing } from './types.js';
import { betterVote, hasQuorumFor, leaderConfirmed, type ReceivedVote, type Vote } from './vote.js';

export interface LookingInput {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  /** the round of the previous election; this one uses round + 1 */
  round: number;
  /** this server's own claim: its currentEpoch and last logged zxid */
  own: Vote;
}

export interface ElectionResult {
  leader: ServerId;
  vote: Vote;
  round: number;
}

export interface LookingContext {
  self: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  io: Io;
  round: number;
  own: Vote;
  vote: Vote;
  /** votes of this round, by sender (our own included) */
  received: Record<ServerId, ReceivedVote>;
  /** votes of servers that are already FOLLOWING or LEADING, by sender */
  outOfElection: Record<ServerId, ReceivedVote>;
  notifyDelay: number;
  /** set when the decision came from an established ensemble */
  decided: Vote | null;
}

type NotificationEvent = Extract<PeerEvent, { type: 'NOTIFICATION' }>;

function asReceived(n: Notification): ReceivedVote {
  return { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch, round: n.round, state: n.state };
}

function voters(ctx: LookingContext): ServerId[] {
  return [...ctx.quorum.voters].filter((s) => s !== ctx.self);
}

function notificationOf(ctx: LookingContext): Notification {
  return {
    type: 'NOTIFICATION',
    leader: ctx.vote.leader,
    zxid: ctx.vote.zxid,
    peerEpoch: ctx.vote.peerEpoch,
    round: ctx.round,
    state: 'LOOKING',
  };
}

/** The established leader a quorum of FOLLOWING/LEADING answers points at, if any (with the round it uses). */
function establishedLeader(ctx: LookingContext, n: Notification, from: ServerId): Vote | null {
  if (n.state === 'LOOKING') return null;
  const vote: Vote = { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch };
  const received = n.round === ctx.round ? { ...ctx.received, [from]: asReceived(n) } : ctx.received;
  if (n.round === ctx.round && hasQuorumFor(received, vote, n.round, ctx.quorum) && leaderConfirmed(received, n.leader, ctx.self)) {
    return vote;
  }
  const outside = { ...ctx.outOfElection, [from]: asReceived(n) };
  if (hasQuorumFor(outside, vote, n.round, ctx.quorum) && leaderConfirmed(outside, n.leader, ctx.self)) return vote;
  return null;
}

export const lookingMachine = setup({
  types: {
    context: {} as LookingContext,
    events: {} as PeerEvent,
    input: {} as LookingInput,
    output: {} as ElectionResult,
  },
  guards: {
    fromNonVoter: ({ context, event }) => !context.quorum.isVoter((event as NotificationEvent).from),
    lookingHigherRound: ({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      return n.state === 'LOOKING' && n.round > context.round;
    },
    lookingLowerRound: ({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      return n.state === 'LOOKING' && n.round < context.round;
    },
    lookingBetterVote: ({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      return n.state === 'LOOKING' && n.round === context.round && betterVote(n, context.vote, context.quorum);
    },
    lookingSameRound: ({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      return n.state === 'LOOKING' && n.round === context.round;
    },
    leaderEstablished: ({ context, event }) => {
      const e = event as NotificationEvent;
      return establishedLeader(context, e.msg, e.from) !== null;
    },
    ownVoteHasQuorum: ({ context }) => hasQuorumFor(context.received, context.vote, context.round, context.quorum),
  },
  actions: {
    broadcastVote: ({ context }) => {
      const to = voters(context);
      if (to.length > 0) context.io({ type: 'sendElection', to, msg: notificationOf(context) });
    },
    replyVote: ({ context, event }) => {
      context.io({ type: 'sendElection', to: [(event as NotificationEvent).from], msg: notificationOf(context) });
    },
    adoptHigherRound: assign(({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      const vote = betterVote(n, context.own, context.quorum)
        ? { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch }
        : context.own;
      return {
        round: n.round,
        vote,
        received: { [context.self]: { ...vote, round: n.round, state: 'LOOKING' as const } },
        notifyDelay: context.timing.notifyMinMs,
      };
    }),
    adoptVote: assign(({ context, event }) => {
      const n = (event as NotificationEvent).msg;
      const vote = { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch };
      return {
        vote,
        received: { ...context.received, [context.self]: { ...vote, round: context.round, state: 'LOOKING' as const } },
      };
    }),
    recordVote: assign(({ context, event }) => {
      const e = event as NotificationEvent;
      return { received: { ...context.received, [e.from]: asReceived(e.msg) } };
    }),
    recordOutOfElection: assign(({ context, event }) => {
      const e = event as NotificationEvent;
      const patch: Partial<LookingContext> = { outOfElection: { ...context.outOfElection, [e.from]: asReceived(e.msg) } };
      if (e.msg.round === context.round) patch.received = { ...context.received, [e.from]: asReceived(e.msg) };
      return patch;
    }),
    followEstablished: assign(({ context, event }) => {
      const e = event as NotificationEvent;
      const vote = establishedLeader(context, e.msg, e.from)!;
      return { decided: vote, vote, round: e.msg.round };
    }),
    backoff: assign(({ context }) => ({
      notifyDelay: Math.min(context.notifyDelay * 2, context.timing.notifyMaxMs),
    })),
  },
  delays: {
    notifyInterval: ({ context }) => context.notifyDelay,
    finalizeWait: ({ context }) => context.timing.finalizeWaitMs,
  },
}).createMachine({
  id: 'looking',
  context: ({ input }) => {
    // A server whose vote does not count (weight 0, observer) still votes for itself, as ZooKeeper
    // does: nobody adopts that vote, and it learns the winner from the others' answers.
    const vote = input.own;
    const round = input.round + 1;
    return {
      self: input.self,
      quorum: input.quorum,
      timing: input.timing,
      io: input.io,
      round,
      own: vote,
      vote,
      received: { [input.self]: { ...vote, round, state: 'LOOKING' as const } },
      outOfElection: {},
      notifyDelay: input.timing.notifyMinMs,
      decided: null,
    };
  },
  initial: 'voting',
  states: {
    voting: {
      entry: 'broadcastVote',
      always: { guard: 'ownVoteHasQuorum', target: 'finalizing' },
      after: {
        notifyInterval: { target: 'voting', reenter: true, actions: 'backoff' },
      },
      on: {
        NOTIFICATION: [
          { guard: 'fromNonVoter', actions: 'replyVote' },
          { guard: 'lookingHigherRound', target: 'voting', reenter: true, actions: ['adoptHigherRound', 'recordVote'] },
          { guard: 'lookingLowerRound', actions: 'replyVote' },
          { guard: 'lookingBetterVote', target: 'voting', reenter: true, actions: ['adoptVote', 'recordVote'] },
          { guard: 'lookingSameRound', actions: 'recordVote' },
          { guard: 'leaderEstablished', target: 'decided', actions: 'followEstablished' },
          { actions: 'recordOutOfElection' },
        ],
      },
    },
    finalizing: {
      after: { finalizeWait: 'decided' },
      on: {
        NOTIFICATION: [
          { guard: 'fromNonVoter', actions: 'replyVote' },
          // A better vote in time reopens the election, as ZooKeeper puts it back and loops.
          { guard: 'lookingHigherRound', target: 'voting', actions: ['adoptHigherRound', 'recordVote'] },
          { guard: 'lookingLowerRound', actions: 'replyVote' },
          { guard: 'lookingBetterVote', target: 'voting', actions: ['adoptVote', 'recordVote'] },
          { guard: 'lookingSameRound', actions: 'recordVote' },
          { guard: 'leaderEstablished', target: 'decided', actions: 'followEstablished' },
          { actions: 'recordOutOfElection' },
        ],
      },
    },
    decided: { type: 'final' },
  },
  output: ({ context }) => ({ leader: (context.decided ?? context.vote).leader, vote: context.decided ?? context.vote, round: context.round }),
});
