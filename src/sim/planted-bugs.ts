/**
 * Deliberately broken variants of the statecharts, made with XState's `.provide()` so the real
 * machines stay untouched. They exist to prove the simulator can fail: each must be caught by the
 * invariant checks within the seeds CI runs (test/sim/planted-bugs.test.ts).
 */
import { assign } from 'xstate';
import { deliverWith, followerMachine } from '../../machines/follower.js';
import { commitUpTo, leaderMachine, progressOf, quorumCommitPoint, shareLogged, type LeaderContext } from '../../machines/leader.js';
import { lookingMachine } from '../../machines/looking.js';
import { peerMachine } from '../../machines/peer.js';
import type { PeerEvent } from '../../machines/types.js';
import type { Zxid } from '../zxid.js';
import type { Vote } from '../../machines/vote.js';
import type { QuorumMessage } from '../protocol/messages.js';
import type { QuorumSystem } from '../quorum/quorum-system.js';

export const PLANTED_BUGS = [
  'ack-before-fsync',
  'skip-trunc',
  'commit-without-quorum',
  'ignore-epoch-in-vote',
  'current-epoch-after-ack',
  'leaderack-without-quorum',
] as const;
export type PlantedBug = (typeof PLANTED_BUGS)[number];

type Msg<T extends QuorumMessage['type']> = Extract<QuorumMessage, { type: T }>;
function msgOf<T extends QuorumMessage['type']>(event: { type: string }): Msg<T> {
  return (event as Extract<PeerEvent, { type: 'QUORUM_MESSAGE' }>).msg as Msg<T>;
}

/** Vote order that forgets the epoch: a server with a long stale log can win over a newer epoch. */
function zxidOnlyOrder(candidate: Vote, current: Vote, quorum: QuorumSystem): boolean {
  if (quorum.weight(candidate.leader) === 0) return false;
  if (candidate.zxid !== current.zxid) return candidate.zxid > current.zxid;
  return candidate.leader > current.leader;
}

/**
 * The leader with its `advanceCommit` rebuilt from the real helpers: `point` picks the commit point,
 * `shareTo` (if given) the LEADERACK recipients after its own log write.
 */
function leaderWithCommit(
  point: (ctx: LeaderContext, lastLogged: Zxid, acks: LeaderContext['acks']) => Zxid,
  shareTo?: (ctx: LeaderContext, sid: number) => boolean,
): typeof leaderMachine {
  return leaderMachine.provide({
    actions: {
      advanceCommit: assign(({ context, event }) => {
        const progress = progressOf(context, event);
        const lastLogged = progress.lastLogged ?? context.lastLogged;
        const patch = { ...progress, ...commitUpTo(context, point(context, lastLogged, progress.acks ?? context.acks), lastLogged) };
        return shareTo && event.type === 'LOG_SYNCED' ? shareLogged(context, patch, shareTo) : patch;
      }),
    },
  });
}

export function plantedMachine(bug: PlantedBug): typeof peerMachine {
  switch (bug) {
    case 'ack-before-fsync':
      // ACK a proposal as soon as it is handed to the log, before it is durable.
      return peerMachine.provide({
        actors: {
          follower: followerMachine.provide({
            actions: {
              append: ({ context, event }) => {
                const txns = msgOf<'PROPOSAL'>(event).txns;
                context.io({ type: 'append', txns });
                if (context.synced && txns.length > 0)
                  context.io({ type: 'send', to: context.leader, msg: { type: 'ACK', zxid: txns[txns.length - 1]!.zxid } });
              },
            },
          }),
        },
      });
    case 'skip-trunc':
      // Pretend to truncate: the divergent tail stays in the log.
      return peerMachine.provide({
        actors: {
          follower: followerMachine.provide({
            actions: {
              truncate: () => undefined,
              noteTruncate: assign(({ event }) => ({ lastReceived: msgOf<'TRUNC'>(event).zxid })),
            },
          }),
        },
      });
    case 'commit-without-quorum':
      // Commit whatever the leader itself has logged, without waiting for a quorum.
      return peerMachine.provide({
        actors: {
          leader: leaderWithCommit((_ctx, lastLogged) => lastLogged),
        },
      });
    case 'ignore-epoch-in-vote':
      return peerMachine.provide({
        actors: {
          looking: lookingMachine.provide({
            guards: {
              lookingBetterVote: ({ context, event }) => {
                const n = (event as Extract<PeerEvent, { type: 'NOTIFICATION' }>).msg;
                return n.state === 'LOOKING' && n.round === context.round && zxidOnlyOrder(n, context.vote, context.quorum);
              },
            },
            actions: {
              adoptHigherRound: assign(({ context, event }) => {
                const n = (event as Extract<PeerEvent, { type: 'NOTIFICATION' }>).msg;
                const vote = zxidOnlyOrder(n, context.own, context.quorum)
                  ? { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch }
                  : context.own;
                return {
                  round: n.round,
                  vote,
                  received: { [context.self]: { ...vote, round: n.round, state: 'LOOKING' as const } },
                  notifyDelay: context.timing.notifyMinMs,
                };
              }),
            },
          }),
        },
      });
    case 'leaderack-without-quorum':
      // LEADERACK to every synced follower, which commits what it and the leader logged even where
      // the two are no quorum (5 or 7 servers, weighted or hierarchical quorums).
      return peerMachine.provide({
        actors: {
          leader: leaderWithCommit(
            (ctx, lastLogged, acks) => quorumCommitPoint(ctx, lastLogged, acks),
            (ctx, sid) => ctx.learners[sid]?.phase === 'synced',
          ),
          follower: followerMachine.provide({
            actions: {
              noteLeaderLoggedAndDeliver: assign(({ context, event }) => {
                const z = msgOf<'LEADERACK'>(event).zxid;
                return deliverWith({ ...context, pairQuorum: true }, z > context.leaderLogged ? { leaderLogged: z } : {});
              }),
              noteLoggedAndDeliver: assign(({ context, event }) => {
                const z = (event as Extract<PeerEvent, { type: 'LOG_SYNCED' }>).zxid;
                return deliverWith({ ...context, pairQuorum: true }, z > context.lastLogged ? { lastLogged: z } : {});
              }),
            },
          }),
        },
      });
    case 'current-epoch-after-ack':
      // ACK NEWLEADER first, persist currentEpoch afterwards.
      return peerMachine.provide({
        actors: {
          follower: followerMachine.provide({
            actions: {
              persistCurrentEpoch: ({ context }) => {
                context.io({ type: 'send', to: context.leader, msg: { type: 'ACKNEWLEADER', epoch: context.epoch } });
                context.io({ type: 'persistCurrentEpoch', epoch: context.epoch });
              },
              ackNewLeader: () => undefined,
            },
          }),
        },
      });
  }
}
