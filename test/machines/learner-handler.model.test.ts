/**
 * Model-based test of `learnerHandler`. It reports to its parent (sendParent), so it runs under a
 * small host machine that invokes it, forwards every event to it and records its reports. Paths
 * are hand-written: each QUORUM_MESSAGE type in each protocol phase, STOP, the connection closing,
 * and silence (watched by the runtime) before and after the learner is synced.
 */
import { describe, expect, it } from 'vitest';
import { sendTo, setup } from 'xstate';
import { learnerHandlerMachine, type HandlerEvent, type HandlerReport, type LearnerHandlerInput } from '../../machines/learner-handler.js';
import { DEFAULT_TIMING as T } from '../../machines/types.js';
import type { QuorumMessage } from '../../src/protocol/messages.js';
import { makeZxid } from '../../src/zxid.js';
import { coverageOf, driveCovered } from './coverage.js';

const cov = coverageOf('learnerHandler', learnerHandlerMachine);
let reports: HandlerReport[] = [];

const REPORTS = ['LEARNER_INFO', 'LEARNER_ACKED_EPOCH', 'LEARNER_ACKED_NEWLEADER', 'LEARNER_ACK', 'LEARNER_REQUESTS', 'LEARNER_SYNC', 'LEARNER_LOST'] as const;
const record = { actions: ({ event }: { event: unknown }) => void reports.push(event as HandlerReport) };

const host = setup({
  types: { context: {} as { input: LearnerHandlerInput }, events: {} as HandlerEvent | HandlerReport, input: {} as LearnerHandlerInput },
  actors: { handler: learnerHandlerMachine },
}).createMachine({
  id: 'host',
  context: ({ input }) => ({ input }),
  invoke: { id: 'handler', src: 'handler', input: ({ context }) => context.input },
  on: {
    ...Object.fromEntries(REPORTS.map((r) => [r, record])),
    'xstate.done.actor.handler': {},
    '*': { actions: sendTo('handler', ({ event }) => event as HandlerEvent) },
  },
});

const SID = 2;
const input = { sid: SID, acceptedEpoch: 1, lastZxid: makeZxid(1, 3), timing: T };
const qm = (msg: QuorumMessage): HandlerEvent => ({ type: 'QUORUM_MESSAGE', from: SID, msg });
const PING = qm({ type: 'PING', zxid: 0n });
const ACKEPOCH = qm({ type: 'ACKEPOCH', currentEpoch: 1, lastZxid: makeZxid(1, 3), counted: true });
const ACKNEWLEADER = qm({ type: 'ACKNEWLEADER', epoch: 2 });
const STRAY = qm({ type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: 0n, observer: false });

function start() {
  reports = [];
  const h = driveCovered(host, input);
  const phase = () => h.actor.getSnapshot().children.handler?.getSnapshot() as { value: unknown; status: string } | undefined;
  return { h, phase };
}

function toPhase(h: ReturnType<typeof start>['h'], n: 0 | 1 | 2 | 3): void {
  if (n >= 1) h.send({ type: 'NEW_EPOCH', epoch: 2 });
  if (n >= 2) h.send(ACKEPOCH);
  if (n >= 3) h.send(ACKNEWLEADER);
}

describe('learnerHandler', () => {
  it('walks a learner through discovery and sync, relaying what it says, ignoring PINGs', () => {
    const { h, phase } = start();
    expect(reports).toEqual([{ type: 'LEARNER_INFO', sid: SID, acceptedEpoch: 1, lastZxid: makeZxid(1, 3) }]);
    h.send(PING);
    h.send({ type: 'NEW_EPOCH', epoch: 2 });
    expect(h.take('send')).toEqual([{ type: 'send', to: SID, msg: { type: 'LEADERINFO', newEpoch: 2 } }]);
    h.send(PING);
    h.send(ACKEPOCH);
    expect(reports.at(-1)).toMatchObject({ type: 'LEARNER_ACKED_EPOCH', counted: true });
    h.send(PING);
    h.send(ACKNEWLEADER);
    expect(reports.at(-1)).toEqual({ type: 'LEARNER_ACKED_NEWLEADER', sid: SID, epoch: 2 });
    h.send(qm({ type: 'ACK', zxid: makeZxid(2, 1) }));
    h.send(PING);
    h.send(qm({ type: 'REQUEST', requests: [{ id: 'r1', data: new Uint8Array([1]) }] }));
    h.send(qm({ type: 'SYNC', id: 's1' }));
    expect(reports.slice(-3).map((r) => r.type)).toEqual(['LEARNER_ACK', 'LEARNER_REQUESTS', 'LEARNER_SYNC']);
    expect(phase()!.value).toEqual({ connected: 'synced' });
  });

  for (const n of [0, 1, 2, 3] as const) {
    it(`an unexpected message in phase ${n} closes the handler: LEARNER_LOST and disconnect`, () => {
      const { h, phase } = start();
      toPhase(h, n);
      h.take();
      h.send(STRAY);
      expect(phase()?.status ?? 'done').toBe('done');
      expect(reports.at(-1)).toEqual({ type: 'LEARNER_LOST', sid: SID, reason: 'unexpected FOLLOWERINFO from learner' });
      expect(h.take('disconnect')).toHaveLength(1);
    });
  }

  it('STOP closes with its reason; a disconnect of another peer is ignored, its own closes', () => {
    const a = start();
    a.h.send({ type: 'STOP', reason: 'learner reconnected' });
    expect(reports.at(-1)).toMatchObject({ type: 'LEARNER_LOST', reason: 'learner reconnected' });
    const b = start();
    b.h.send({ type: 'PEER_DISCONNECTED', sid: 3 });
    expect(b.phase()?.status).toBe('active');
    b.h.send({ type: 'PEER_DISCONNECTED', sid: SID });
    expect(reports.at(-1)).toMatchObject({ type: 'LEARNER_LOST', reason: 'learner connection closed' });
  });

  it('silence: watched for initLimit before sync, syncLimit once synced; only its own PEER_SILENT closes it', () => {
    const a = start();
    const [w] = a.h.take('watchSilence');
    expect(w).toMatchObject({ sid: SID, ms: T.initLimit * T.tickTime });
    a.h.send({ type: 'PEER_SILENT', sid: 3 });
    expect(a.phase()?.status).toBe('active');
    a.h.send({ type: 'PEER_SILENT', sid: SID });
    expect(reports.at(-1)).toMatchObject({ type: 'LEARNER_LOST', reason: 'learner silent for too long' });
    expect(a.h.take('unwatchSilence')).toEqual([{ type: 'unwatchSilence', sid: SID, owner: w!.owner }]);
    const b = start();
    toPhase(b.h, 3);
    expect(b.h.take('watchSilence').map((e) => e.ms)).toEqual([T.initLimit * T.tickTime, T.syncLimit * T.tickTime]);
    b.h.send({ type: 'PEER_SILENT', sid: SID });
    expect(reports.at(-1)).toMatchObject({ type: 'LEARNER_LOST', reason: 'learner silent for too long' });
  });

  it('covers every state and transition', () => cov.assertComplete());
});
