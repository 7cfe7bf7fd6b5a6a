/**
 * Model-based test of `peer` with its real role machines (looking, follower, leader): elections
 * are won or lost by typed NOTIFICATIONs, roles end by their own timers or failures, and every
 * event the peer handles is sent in every state that handles it.
 */
import { describe, expect, it } from 'vitest';
import { peerMachine } from '../../machines/peer.js';
import { DEFAULT_TIMING as T, type PeerEvent } from '../../machines/types.js';
import type { PeerState } from '../../src/protocol/messages.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import { makeZxid } from '../../src/zxid.js';
import { coverageOf, driveCovered } from './coverage.js';

const cov = coverageOf('peer', peerMachine);
const quorum = new MajorityQuorum([1, 2, 3]);
const Z = makeZxid(1, 3);
const facts = { acceptedEpoch: 1, currentEpoch: 1, lastLogged: Z, history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] } };
const note = (from: number, leader: number, round: number, state: PeerState = 'LOOKING'): PeerEvent => ({
  type: 'NOTIFICATION',
  from,
  msg: { type: 'NOTIFICATION', leader, zxid: Z, peerEpoch: 1, round, state },
});
const durable: PeerEvent[] = [
  { type: 'LOG_SYNCED', zxid: Z },
  { type: 'TRUNCATED', zxid: Z },
  { type: 'SNAPSHOT_INSTALLED', zxid: Z },
  { type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 1 },
  { type: 'CURRENT_EPOCH_PERSISTED', epoch: 1 },
];
const start = () => driveCovered(peerMachine, { self: 1, quorum, timing: T, facts });

describe('peer', () => {
  it('looking -> following (elects 3) -> quiescing -> looking', () => {
    const h = start();
    expect(h.take('role')).toMatchObject([{ role: 'looking' }]);
    h.send({ type: 'QUORUM_MESSAGE', from: 2, msg: { type: 'PING', zxid: 0n } });
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'a', data: new Uint8Array() }] });
    h.send({ type: 'CLIENT_SYNC', id: 'b' });
    expect(h.take('disconnect')).toHaveLength(1);
    expect(h.take('rejectRequests').flatMap((e) => e.ids)).toEqual(['a', 'b']);
    h.send(note(2, 3, 1));
    h.send(note(3, 3, 1));
    h.advance(T.finalizeWaitMs);
    expect(h.states()).toEqual(['following']);
    expect(h.take('connect')).toEqual([{ type: 'connect', leader: 3 }]);
    h.send(note(2, 2, 1)); // still looking: told who leads
    expect(h.take('sendElection').at(-1)!.msg).toMatchObject({ leader: 3, state: 'FOLLOWING' });
    for (const e of durable) h.send(e);
    h.send({ type: 'LEADER_CONNECTED', leader: 3 }); // '*': forwarded to the follower
    expect(h.take('send').map((e) => e.msg.type)).toEqual(['FOLLOWERINFO']);
    h.send({ type: 'PEER_DISCONNECTED', sid: 3 });
    h.send({ type: 'PEER_DISCONNECTED', sid: 3 }); // retry, then the leader is gone for good
    h.advance(T.initLimit * T.tickTime);
    expect(h.states()).toEqual(['quiescing']);
    expect(h.take('quiesce')).toHaveLength(1);
    h.send({ type: 'QUORUM_MESSAGE', from: 2, msg: { type: 'PING', zxid: 0n } });
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'c', data: new Uint8Array() }] });
    h.send({ type: 'CLIENT_SYNC', id: 'd' });
    for (const e of durable) h.send(e);
    expect(h.actor.getSnapshot().context.facts.currentEpoch).toBe(1);
    h.send({ type: 'QUIESCED', lastLogged: Z, history: facts.history });
    expect(h.states()).toEqual(['looking']);
    expect(h.actor.getSnapshot().context.elections).toBe(1);
  });

  it('looking -> leading (elects itself) -> quiescing when the leadership fails', () => {
    const h = start();
    h.send(note(2, 1, 1));
    h.advance(T.finalizeWaitMs);
    expect(h.states()).toEqual(['leading']);
    h.send(note(3, 3, 1));
    expect(h.take('sendElection').at(-1)!.msg).toMatchObject({ leader: 1, state: 'LEADING' });
    for (const e of durable) h.send(e);
    h.send({ type: 'CLIENT_SYNC', id: 'x' }); // '*': the leader rejects it (not established)
    expect(h.take('rejectRequests').flatMap((e) => e.ids)).toEqual(['x']);
    h.advance(T.initLimit * T.tickTime);
    expect(h.states()).toEqual(['quiescing']);
    expect(h.take('quiesce')[0]!.reason).toBe('no quorum of learners within initLimit');
  });
});

describe('peer: coverage', () => {
  it('every state and transition was reached', () => cov.assertComplete());
});
