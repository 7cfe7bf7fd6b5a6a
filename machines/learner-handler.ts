/**
 * `learnerHandler`: the leader's actor for one connected learner (ZooKeeper's LearnerHandler).
 * It walks the learner through discovery, reports each step to the leader, relays its ACKs and
 * forwarded requests, and declares it lost when it stays silent past the limit. The leader keeps
 * the decisions that need the whole ensemble (epoch, sync plans, commits).
 */
import { assign, sendParent, setup, type SnapshotFrom } from 'xstate';
import type { QuorumMessage, ServerId } from '../src/protocol/messages.js';
import type { Zxid } from '../src/zxid.js';
import type { Io, PeerEvent, Timing } from './types.js';

export interface LearnerHandlerInput {
  sid: ServerId;
  acceptedEpoch: number;
  lastZxid: Zxid;
  timing: Timing;
  io: Io;
}

/** What the leader tells a handler. */
export type HandlerEvent =
  | PeerEvent
  | { type: 'NEW_EPOCH'; epoch: number }
  | { type: 'SYNC_STARTED' }
  | { type: 'STOP'; reason: string };

/** What a handler reports to the leader. */
export type HandlerReport =
  | { type: 'LEARNER_INFO'; sid: ServerId; acceptedEpoch: number; lastZxid: Zxid }
  | { type: 'LEARNER_ACKED_EPOCH'; sid: ServerId; currentEpoch: number; lastZxid: Zxid; counted: boolean }
  | { type: 'LEARNER_ACKED_NEWLEADER'; sid: ServerId; epoch: number }
  | { type: 'LEARNER_ACK'; sid: ServerId; zxid: Zxid }
  | { type: 'LEARNER_REQUESTS'; sid: ServerId; requests: Extract<QuorumMessage, { type: 'REQUEST' }>['requests'] }
  | { type: 'LEARNER_SYNC'; sid: ServerId; id: string }
  | { type: 'LEARNER_LOST'; sid: ServerId; reason: string };

export interface HandlerContext {
  sid: ServerId;
  acceptedEpoch: number;
  lastZxid: Zxid;
  timing: Timing;
  io: Io;
  synced: boolean;
  reason: string;
}

type QuorumEvent = Extract<PeerEvent, { type: 'QUORUM_MESSAGE' }>;

function msg(event: HandlerEvent): QuorumMessage | undefined {
  return event.type === 'QUORUM_MESSAGE' ? (event as QuorumEvent).msg : undefined;
}

/**
 * What a synced learner's message becomes for the leader: ACK, REQUEST and SYNC are relayed as they
 * are, tagged with the learner. Null for every other message. The relay actions build their
 * reports with it, and the runtime uses it to hand these straight to the leader (`relayOf`).
 */
export function relayReport(sid: ServerId, m: QuorumMessage): HandlerReport | null {
  switch (m.type) {
    case 'ACK':
      return { type: 'LEARNER_ACK', sid, zxid: m.zxid };
    case 'REQUEST':
      return { type: 'LEARNER_REQUESTS', sid, requests: m.requests };
    case 'SYNC':
      return { type: 'LEARNER_SYNC', sid, id: m.id };
    default:
      return null;
  }
}

/** How long the learner may stay silent: initLimit until it acked NEWLEADER, then syncLimit. */
function silenceMs(ctx: HandlerContext): number {
  return (ctx.synced ? ctx.timing.syncLimit : ctx.timing.initLimit) * ctx.timing.tickTime;
}

export const learnerHandlerMachine = setup({
  types: {
    context: {} as HandlerContext,
    events: {} as HandlerEvent,
    input: {} as LearnerHandlerInput,
  },
  guards: {
    isAckEpoch: ({ event }) => msg(event)?.type === 'ACKEPOCH',
    isAckNewLeader: ({ event }) => msg(event)?.type === 'ACKNEWLEADER',
    isPing: ({ event }) => msg(event)?.type === 'PING',
    /** an ACK, REQUEST or SYNC: what a synced learner's handler relays (relayReport decides) */
    isRelayed: ({ context, event }) => event.type === 'QUORUM_MESSAGE' && relayReport(context.sid, event.msg) !== null,
    isOurConnection: ({ context, event }) => event.type === 'PEER_DISCONNECTED' && event.sid === context.sid,
    learnerIsSilent: ({ context, event }) => event.type === 'PEER_SILENT' && event.sid === context.sid,
  },
  actions: {
    reportInfo: sendParent(({ context }) => ({
      type: 'LEARNER_INFO',
      sid: context.sid,
      acceptedEpoch: context.acceptedEpoch,
      lastZxid: context.lastZxid,
    })),
    sendLeaderInfo: ({ context, event }) =>
      context.io({
        type: 'send',
        to: context.sid,
        msg: { type: 'LEADERINFO', newEpoch: (event as Extract<HandlerEvent, { type: 'NEW_EPOCH' }>).epoch },
      }),
    reportAckEpoch: sendParent(({ context, event }) => {
      const m = msg(event) as Extract<QuorumMessage, { type: 'ACKEPOCH' }>;
      return { type: 'LEARNER_ACKED_EPOCH', sid: context.sid, currentEpoch: m.currentEpoch, lastZxid: m.lastZxid, counted: m.counted };
    }),
    reportAckNewLeader: sendParent(({ context, event }) => ({
      type: 'LEARNER_ACKED_NEWLEADER',
      sid: context.sid,
      epoch: (msg(event) as Extract<QuorumMessage, { type: 'ACKNEWLEADER' }>).epoch,
    })),
    noteSynced: assign({ synced: true }),
    relay: sendParent(({ context, event }) => relayReport(context.sid, msg(event)!)!),
    lose: assign(({ context }, params: { reason: string }) => ({ reason: params.reason || context.reason })),
    loseOnEvent: assign(({ event }) => ({
      reason:
        event.type === 'STOP'
          ? event.reason
          : event.type === 'QUORUM_MESSAGE'
            ? `unexpected ${event.msg.type} from learner`
            : `learner connection closed`,
    })),
    reportLost: sendParent(({ context }) => ({ type: 'LEARNER_LOST', sid: context.sid, reason: context.reason })),
    disconnect: ({ context }) => context.io({ type: 'disconnect', sid: context.sid, reason: context.reason }),
    watchLearner: ({ context, self }) => context.io({ type: 'watchSilence', sid: context.sid, ms: silenceMs(context), owner: self.id }),
    unwatchLearner: ({ context, self }) => context.io({ type: 'unwatchSilence', sid: context.sid, owner: self.id }),
  },
}).createMachine({
  id: 'learnerHandler',
  context: ({ input }) => ({
    sid: input.sid,
    acceptedEpoch: input.acceptedEpoch,
    lastZxid: input.lastZxid,
    timing: input.timing,
    io: input.io,
    synced: false,
    reason: '',
  }),
  initial: 'connected',
  states: {
    // One compound state, not a parallel one with a liveness region: a second region doubles the
    // interpreter's fixed cost per message. Any message from the learner proves it alive: the runtime
    // notes each one's arrival (watchSilence), so no timer is re-armed per message here.
    connected: {
      initial: 'awaitingEpoch',
      entry: ['reportInfo', 'watchLearner'],
      exit: 'unwatchLearner',
      on: {
        STOP: { target: 'closed', actions: 'loseOnEvent' },
        PEER_DISCONNECTED: { guard: 'isOurConnection', target: 'closed', actions: 'loseOnEvent' },
        PEER_SILENT: {
          guard: 'learnerIsSilent',
          target: '#learnerHandler.closed',
          actions: { type: 'lose', params: { reason: 'learner silent for too long' } },
        },
      },
      states: {
        awaitingEpoch: {
          on: {
            NEW_EPOCH: { target: 'awaitingAckEpoch', actions: 'sendLeaderInfo' },
            QUORUM_MESSAGE: [
              { guard: 'isPing' },
              { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
            ],
          },
        },
        awaitingAckEpoch: {
          on: {
            QUORUM_MESSAGE: [
              { guard: 'isAckEpoch', target: 'syncing', actions: 'reportAckEpoch' },
              { guard: 'isPing' },
              { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
            ],
          },
        },
        // The leader streams the sync; we wait for the learner to make it durable and ACK NEWLEADER.
        syncing: {
          on: {
            QUORUM_MESSAGE: [
              // synced: from now on the learner's silence limit is syncLimit
              { guard: 'isAckNewLeader', target: 'synced', actions: ['noteSynced', 'reportAckNewLeader', 'watchLearner'] },
              { guard: 'isPing' },
              { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
            ],
          },
        },
        synced: {
          on: {
            QUORUM_MESSAGE: [
              { guard: 'isRelayed', actions: 'relay' },
              { guard: 'isPing' },
              { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
            ],
          },
        },
      },
    },
    closed: {
      type: 'final',
      entry: ['reportLost', 'disconnect'],
    },
  },
});

/**
 * The report a handler in state `snap` would send its leader for `event`, when relaying it is all it
 * would do (a synced learner's ACK, REQUEST or SYNC): the runtime may hand that report to the leader
 * directly, with the same outcome and one macrostep fewer. Null otherwise.
 */
export function relayOf(snap: SnapshotFrom<typeof learnerHandlerMachine>, event: HandlerEvent): HandlerReport | null {
  if (event.type !== 'QUORUM_MESSAGE' || snap.status !== 'active') return null;
  const value = snap.value as { connected?: string } | string;
  if (typeof value === 'string' || value.connected !== 'synced') return null;
  return relayReport(snap.context.sid, event.msg);
}
