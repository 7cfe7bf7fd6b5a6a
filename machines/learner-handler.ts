/**
 * `learnerHandler`: the leader's actor for one connected learner (ZooKeeper's LearnerHandler).
 * It walks the learner through discovery, reports each step to the leader, relays its ACKs and
 * forwarded requests, and declares it lost when it stays silent past the limit. The leader keeps
 * the decisions that need the whole ensemble (epoch, sync plans, commits).
 */
import { assign, cancel, raise, sendParent, setup } from 'xstate';
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
  | { type: 'STOP'; reason: string }
  /** raised by the handler itself (delayed): the learner was silent for the limit */
  | { type: 'LEARNER_SILENT' };

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

export const learnerHandlerMachine = setup({
  types: {
    context: {} as HandlerContext,
    events: {} as HandlerEvent,
    input: {} as LearnerHandlerInput,
  },
  guards: {
    isAckEpoch: ({ event }) => msg(event)?.type === 'ACKEPOCH',
    isAckNewLeader: ({ event }) => msg(event)?.type === 'ACKNEWLEADER',
    isAck: ({ event }) => msg(event)?.type === 'ACK',
    isPing: ({ event }) => msg(event)?.type === 'PING',
    isRequest: ({ event }) => msg(event)?.type === 'REQUEST',
    isSync: ({ event }) => msg(event)?.type === 'SYNC',
    isOurConnection: ({ context, event }) => event.type === 'PEER_DISCONNECTED' && event.sid === context.sid,
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
    relayAck: sendParent(({ context, event }) => ({
      type: 'LEARNER_ACK',
      sid: context.sid,
      zxid: (msg(event) as Extract<QuorumMessage, { type: 'ACK' }>).zxid,
    })),
    relayRequests: sendParent(({ context, event }) => ({
      type: 'LEARNER_REQUESTS',
      sid: context.sid,
      requests: (msg(event) as Extract<QuorumMessage, { type: 'REQUEST' }>).requests,
    })),
    relaySync: sendParent(({ context, event }) => ({
      type: 'LEARNER_SYNC',
      sid: context.sid,
      id: (msg(event) as Extract<QuorumMessage, { type: 'SYNC' }>).id,
    })),
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
    armSilence: raise({ type: 'LEARNER_SILENT' }, { id: 'silence', delay: 'learnerSilence' }),
    disarmSilence: cancel('silence'),
  },
  delays: {
    learnerSilence: ({ context }) =>
      (context.synced ? context.timing.syncLimit : context.timing.initLimit) * context.timing.tickTime,
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
    connected: {
      type: 'parallel',
      on: {
        STOP: { target: 'closed', actions: 'loseOnEvent' },
        PEER_DISCONNECTED: { guard: 'isOurConnection', target: 'closed', actions: 'loseOnEvent' },
      },
      // protocol comes first: a message that ends the session must win over the timer reset
      // (XState resolves conflicting transitions of parallel regions in document order).
      states: {
        protocol: {
          initial: 'awaitingEpoch',
          entry: 'reportInfo',
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
                  { guard: 'isAckNewLeader', target: 'synced', actions: ['noteSynced', 'reportAckNewLeader'] },
                  { guard: 'isPing' },
                  { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
                ],
              },
            },
            synced: {
              on: {
                QUORUM_MESSAGE: [
                  { guard: 'isAck', actions: 'relayAck' },
                  { guard: 'isPing' },
                  { guard: 'isRequest', actions: 'relayRequests' },
                  { guard: 'isSync', actions: 'relaySync' },
                  { target: '#learnerHandler.closed', actions: 'loseOnEvent' },
                ],
              },
            },
          },
        },
        liveness: {
          initial: 'watching',
          states: {
            // A delayed LEARNER_SILENT, re-armed by every message (cancel + raise: much cheaper for
            // XState than re-entering a state with an `after` timer, and this runs per message).
            watching: {
              entry: 'armSilence',
              exit: 'disarmSilence',
              on: {
                QUORUM_MESSAGE: { actions: ['disarmSilence', 'armSilence'] },
                LEARNER_SILENT: {
                  target: '#learnerHandler.closed',
                  actions: { type: 'lose', params: { reason: 'learner silent for too long' } },
                },
              },
            },
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
