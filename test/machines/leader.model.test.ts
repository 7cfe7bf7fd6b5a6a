/**
 * Model-based test of `leader` (with its real `learnerHandler` children, so QUORUM_MESSAGEs travel
 * leader -> handler -> report -> leader as in production). Hand-written paths: its guards read the
 * learners it tracks and its zxids. Checks that it proposes only in broadcast.
 */
import { describe, expect, it } from 'vitest';
import { leaderMachine, type LeaderEvent } from '../../machines/leader.js';
import { learnerHandlerMachine } from '../../machines/learner-handler.js';
import { DEFAULT_TIMING as T, type PeerFacts } from '../../machines/types.js';
import type { QuorumMessage } from '../../src/protocol/messages.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import { MAX_COUNTER, makeZxid } from '../../src/zxid.js';
import { coverageOf, driveCovered } from './coverage.js';

const cov = coverageOf('leader', leaderMachine);
coverageOf('learnerHandler', learnerHandlerMachine); // its steps here are counted too (reported by its own test)
const quorum = new MajorityQuorum([1, 2, 3]);
const z = makeZxid;
const qm = (from: number, msg: QuorumMessage): LeaderEvent => ({ type: 'QUORUM_MESSAGE', from, msg });
const FACTS: PeerFacts = { acceptedEpoch: 1, currentEpoch: 1, lastLogged: z(1, 3), history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] } };
const info = (acceptedEpoch = 1) => ({ type: 'FOLLOWERINFO', acceptedEpoch, lastZxid: z(1, 3), observer: false }) as const;
const ackEpoch = (currentEpoch = 1) => ({ type: 'ACKEPOCH', currentEpoch, lastZxid: z(1, 3), counted: true }) as const;
const req = (id: string) => ({ id, data: new Uint8Array([1]) });

function start(facts: PeerFacts = FACTS) {
  return driveCovered(leaderMachine, { self: 1, quorum, timing: T, facts });
}

/** learner 2 acked the epoch; currentEpoch 2 being persisted */
function persistingCurrent(facts: PeerFacts = FACTS) {
  const h = start(facts);
  h.send(qm(2, info()));
  h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
  h.send(qm(2, ackEpoch()));
  return h;
}

function established(facts: PeerFacts = FACTS) {
  const h = persistingCurrent(facts);
  h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
  h.send(qm(2, { type: 'ACKNEWLEADER', epoch: 2 }));
  return h;
}

describe('leader: one leadership', () => {
  it('discovery, synchronization, broadcast; proposes only once established', () => {
    const h = start();
    h.send(qm(3, { type: 'PING', zxid: 0n })); // before FOLLOWERINFO: refused
    expect(h.take('disconnect')).toEqual([{ type: 'disconnect', sid: 3, reason: 'PING before FOLLOWERINFO' }]);
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('a')] });
    h.send({ type: 'LEARNER_REQUESTS', sid: 2, requests: [req('b')] });
    h.send({ type: 'CLIENT_SYNC', id: 'c' });
    expect(h.take('rejectRequests').flatMap((e) => e.ids)).toEqual(['a', 'b', 'c']);
    h.send({ type: 'LOG_SYNCED', zxid: z(1, 3) });
    h.send({ type: 'PEER_DISCONNECTED', sid: 3 }); // not a learner: ignored
    h.send(qm(2, info()));
    expect(h.take('persistAcceptedEpoch')).toEqual([{ type: 'persistAcceptedEpoch', epoch: 2 }]);
    h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
    expect(h.take('send').map((e) => e.msg)).toEqual([{ type: 'LEADERINFO', newEpoch: 2 }]);
    h.send({ type: 'LEARNER_ACKED_EPOCH', sid: 9, currentEpoch: 1, lastZxid: 0n, counted: false }); // unknown: noted, no quorum
    h.send(qm(2, ackEpoch()));
    expect(h.take('persistCurrentEpoch')).toEqual([{ type: 'persistCurrentEpoch', epoch: 2 }]);
    h.send(qm(3, info())); // a late learner gets the epoch at once
    h.send(qm(3, ackEpoch()));
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    expect(h.take('syncLearner').map((e) => [e.sid, e.plan.mode])).toEqual([[2, 'DIFF'], [3, 'DIFF']]);
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('d')] });
    h.send({ type: 'LEARNER_ACKED_NEWLEADER', sid: 9, epoch: 7 }); // wrong epoch: dropped
    expect(h.take('propose')).toEqual([]); // not in synchronization
    h.send(qm(2, { type: 'ACKNEWLEADER', epoch: 2 }));
    expect(h.take('established')).toEqual([{ type: 'established', epoch: 2, zxid: z(1, 3) }]);
    h.send(qm(3, { type: 'ACKNEWLEADER', epoch: 2 }));
    expect(h.take('send').filter((e) => e.msg.type === 'UPTODATE').map((e) => e.to)).toEqual([3]);
    h.send({ type: 'LEARNER_ACKED_NEWLEADER', sid: 3, epoch: 1 });
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('e'), req('f')] });
    h.send(qm(2, { type: 'REQUEST', requests: [req('g')] }));
    expect(h.take('propose').map((e) => [e.first, e.requests.length])).toEqual([[z(2, 1), 2], [z(2, 3), 1]]);
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 3) });
    h.send(qm(2, { type: 'ACK', zxid: z(2, 3) }));
    // 2 and 3 each form a quorum with us: our LEADERACK commits (2,3) there, no COMMIT needed
    expect(h.take('broadcast').filter((e) => e.msg.type !== 'UPTODATE').map((e) => [e.to, e.msg])).toEqual([[[2, 3], { type: 'LEADERACK', zxid: z(2, 3) }]]);
    expect(h.take('deliver').at(-1)).toEqual({ type: 'deliver', upTo: z(2, 3) });
    h.send(qm(2, { type: 'SYNC', id: 's1' }));
    h.send({ type: 'CLIENT_SYNC', id: 's2' });
    expect(h.take('syncDone')).toEqual([{ type: 'syncDone', id: 's2', zxid: z(2, 3) }]);
    h.advance(Math.floor(T.tickTime / 2));
    expect(h.take('broadcast').map((e) => e.msg.type)).toEqual(['PING']);
    h.send({ type: 'LEARNER_LOST', sid: 2, reason: 'stale report' }); // handler still active: kept
    h.send({ type: 'PEER_SILENT', sid: 2 }); // 1 and 3 remain a quorum
    expect(h.status()).toBe('active');
    expect(h.take('disconnect')).toEqual([{ type: 'disconnect', sid: 2, reason: 'learner silent for too long' }]);
    h.send({ type: 'PEER_DISCONNECTED', sid: 3 });
    expect(h.status()).toBe('done');
    expect(h.actor.getSnapshot().output).toEqual({ reason: 'synced learners no longer form a quorum' });
  });

  it('a learner joining in broadcast is synced at once, in its place in the proposal stream', () => {
    const h = established();
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('a')] });
    h.take();
    h.send(qm(3, info()));
    h.send(qm(3, ackEpoch()));
    expect(h.take('syncLearner')).toEqual([{ type: 'syncLearner', sid: 3, plan: { mode: 'DIFF', from: z(1, 3) }, upTo: z(2, 1), committed: z(1, 3) }]);
    expect(h.take('send').map((e) => e.msg)).toContainEqual({ type: 'NEWLEADER', epoch: 2, zxid: z(2, 1) });
  });

  it("its own log write, when it leaves something uncommitted, goes to the synced followers it forms a quorum with (LEADERACK)", () => {
    const h = established();
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('a'), req('b')] });
    h.take();
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 2) });
    expect(h.take('broadcast').map((e) => [e.to, e.msg])).toEqual([[[2], { type: 'LEADERACK', zxid: z(2, 2) }]]);
    h.send(qm(2, { type: 'ACK', zxid: z(2, 2) }));
    expect(h.take('broadcast')).toEqual([]); // committed, and the LEADERACK already covers it for 2
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 2) }]);
    h.take();
    const before = h.actor.getSnapshot().context;
    h.send(qm(2, { type: 'ACK', zxid: z(2, 1) })); // spent: at or below the commit point, no new context
    expect(h.actor.getSnapshot().context).toBe(before);
    expect(h.take()).toEqual([]);
    // its write after the quorum's: committed at once, nothing to share
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('c')] });
    h.send(qm(2, { type: 'ACK', zxid: z(2, 3) }));
    h.take();
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 3) });
    expect(h.take('broadcast').map((e) => e.msg.type)).toEqual(['COMMIT']);
  });

  it('no LEADERACK where the leader and one follower are no quorum (5 servers)', () => {
    const h = driveCovered(leaderMachine, { self: 1, quorum: new MajorityQuorum([1, 2, 3, 4, 5]), timing: T, facts: FACTS });
    h.send(qm(2, info()));
    h.send(qm(3, info()));
    h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
    h.send(qm(2, ackEpoch()));
    h.send(qm(3, ackEpoch()));
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    h.send(qm(2, { type: 'ACKNEWLEADER', epoch: 2 }));
    h.send(qm(3, { type: 'ACKNEWLEADER', epoch: 2 }));
    expect(h.take('established')).toHaveLength(1);
    h.send({ type: 'CLIENT_REQUESTS', requests: [req('a')] });
    h.take();
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    expect(h.take('broadcast')).toEqual([]);
  });

  it('a learner that disconnects in discovery is dropped', () => {
    const h = start();
    h.send(qm(2, info()));
    h.send({ type: 'PEER_DISCONNECTED', sid: 2 });
    expect(h.actor.getSnapshot().context.learners).toEqual({});
  });
});

describe('leader: stepping down', () => {
  it('no quorum of learners within initLimit (discovery)', () => {
    const h = start();
    h.advance(T.initLimit * T.tickTime);
    expect(h.actor.getSnapshot().output).toEqual({ reason: 'no quorum of learners within initLimit' });
  });

  it('no quorum acked NEWLEADER within initLimit (synchronization)', () => {
    const h = persistingCurrent();
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    h.timer('initTimeout', 'leader.synchronization');
    expect(h.actor.getSnapshot().output).toEqual({ reason: 'no quorum acked NEWLEADER within initLimit' });
  });

  it('a learner ahead of us, while awaiting epoch acks or persisting currentEpoch', () => {
    const a = start();
    a.send(qm(2, info()));
    a.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
    a.send(qm(2, ackEpoch(5)));
    expect(a.status()).toBe('done');
    const b = persistingCurrent();
    b.send(qm(3, info()));
    b.send(qm(3, ackEpoch(5)));
    expect(b.actor.getSnapshot().output).toMatchObject({ reason: expect.stringMatching(/learner 3 is ahead/) });
  });

  it('the zxid counter would be exhausted (ZOOKEEPER-1277), by client or learner requests', () => {
    const facts = { ...FACTS, lastLogged: z(2, MAX_COUNTER - 1) };
    const a = established(facts);
    a.send({ type: 'CLIENT_REQUESTS', requests: [req('x'), req('y')] });
    expect(a.take('rejectRequests').flatMap((e) => e.ids)).toEqual(['x', 'y']);
    expect(a.status()).toBe('done');
    const b = established(facts);
    b.send({ type: 'LEARNER_REQUESTS', sid: 2, requests: [req('x'), req('y')] });
    expect(b.status()).toBe('done');
  });
});

describe('leader: coverage', () => {
  it('every state and transition was reached', () => cov.assertComplete());
});
