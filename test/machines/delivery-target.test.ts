/**
 * `deliveryTarget`: the runtime hands hot events straight to the actor that acts on them. Checked
 * here: which actor it picks in each peer state, and that delivering there gives the same effects
 * as sending the event to the peer.
 */
import { describe, expect, it } from 'vitest';
import { deliveryTarget, peerMachine } from '../../machines/peer.js';
import { DEFAULT_TIMING as T, type PeerEvent } from '../../machines/types.js';
import type { QuorumMessage } from '../../src/protocol/messages.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import { drive } from '../../src/testing/harness.js';
import { makeZxid } from '../../src/zxid.js';

const quorum = new MajorityQuorum([1, 2, 3]);
const Z = makeZxid(1, 3);
const facts = { acceptedEpoch: 1, currentEpoch: 1, lastLogged: Z, history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] } };
const qm = (from: number, msg: QuorumMessage): PeerEvent => ({ type: 'QUORUM_MESSAGE', from, msg });

/** A peer elected leader (self 1), learner 2 connected and past FOLLOWERINFO. */
function leading() {
  const h = drive(peerMachine, { self: 1, quorum, timing: T, facts });
  h.send({ type: 'NOTIFICATION', from: 2, msg: { type: 'NOTIFICATION', leader: 1, zxid: Z, peerEpoch: 1, round: 1, state: 'LOOKING' } });
  h.advance(T.finalizeWaitMs);
  expect(h.states()).toEqual(['leading']);
  h.send(qm(2, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: Z, observer: false }));
  return h;
}

function following() {
  const h = drive(peerMachine, { self: 1, quorum, timing: T, facts });
  h.send({ type: 'NOTIFICATION', from: 2, msg: { type: 'NOTIFICATION', leader: 3, zxid: Z, peerEpoch: 1, round: 1, state: 'LOOKING' } });
  h.send({ type: 'NOTIFICATION', from: 3, msg: { type: 'NOTIFICATION', leader: 3, zxid: Z, peerEpoch: 1, round: 1, state: 'LOOKING' } });
  h.advance(T.finalizeWaitMs);
  expect(h.states()).toEqual(['following']);
  return h;
}

describe('deliveryTarget', () => {
  it('looking: everything goes to the peer', () => {
    const h = drive(peerMachine, { self: 1, quorum, timing: T, facts });
    expect(deliveryTarget(h.actor.getSnapshot(), qm(2, { type: 'PING', zxid: 0n }))).toBeNull();
    expect(deliveryTarget(h.actor.getSnapshot(), { type: 'LOG_SYNCED', zxid: Z })).toBeNull();
  });

  it('following: quorum messages, LOG_SYNCED and client requests go to the follower; the rest to the peer', () => {
    const h = following();
    const role = h.actor.getSnapshot().children.role;
    expect(role).toBeDefined();
    const snap = h.actor.getSnapshot();
    expect(deliveryTarget(snap, qm(3, { type: 'PING', zxid: 0n }))).toBe(role);
    expect(deliveryTarget(snap, { type: 'LOG_SYNCED', zxid: Z })).toBe(role);
    expect(deliveryTarget(snap, { type: 'CLIENT_REQUESTS', requests: [] })).toBe(role);
    for (const e of [
      { type: 'TRUNCATED', zxid: Z },
      { type: 'CURRENT_EPOCH_PERSISTED', epoch: 1 },
      { type: 'PEER_DISCONNECTED', sid: 3 },
      { type: 'LEADER_CONNECTED', leader: 3 },
    ] as PeerEvent[]) {
      expect(deliveryTarget(snap, e)).toBeNull();
    }
  });

  it('leading: a known learner goes to its handler, FOLLOWERINFO and strangers to the leader', () => {
    const h = leading();
    const snap = h.actor.getSnapshot();
    const role = snap.children.role!;
    const handler = deliveryTarget(snap, qm(2, { type: 'PING', zxid: 0n }));
    expect(handler).not.toBeNull();
    expect(handler).not.toBe(role);
    expect(handler!.id).toMatch(/^learner-2-/);
    expect(deliveryTarget(snap, qm(2, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: Z, observer: false }))).toBe(role);
    expect(deliveryTarget(snap, qm(3, { type: 'PING', zxid: 0n }))).toBe(role);
    expect(deliveryTarget(snap, { type: 'LOG_SYNCED', zxid: Z })).toBe(role);
  });

  it('delivering to the target has the same effects as sending to the peer', () => {
    const events: PeerEvent[] = [
      { type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 },
      qm(3, { type: 'PING', zxid: 0n }),
      qm(2, { type: 'ACKEPOCH', currentEpoch: 1, lastZxid: Z, counted: true }),
      { type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 },
      { type: 'LOG_SYNCED', zxid: Z },
      qm(2, { type: 'ACKNEWLEADER', epoch: 2 }),
      { type: 'CLIENT_REQUESTS', requests: [{ id: 'a', data: new Uint8Array([1]) }] },
      qm(2, { type: 'REQUEST', requests: [{ id: 'b', data: new Uint8Array([2]) }] }),
      { type: 'LOG_SYNCED', zxid: makeZxid(2, 2) },
      qm(2, { type: 'ACK', zxid: makeZxid(2, 2) }),
      qm(2, { type: 'PING', zxid: 0n }),
      qm(2, { type: 'UPTODATE', committed: 0n }),
    ];
    const viaPeer = leading();
    const direct = leading();
    viaPeer.take();
    direct.take();
    const seen: string[] = [];
    for (const e of events) {
      viaPeer.send(e);
      const target = deliveryTarget(direct.actor.getSnapshot(), e);
      if (target) target.send(e);
      else direct.send(e);
      const effects = direct.take();
      expect(effects).toEqual(viaPeer.take());
      expect(direct.states()).toEqual(viaPeer.states());
      seen.push(...effects.map((f) => (f.type === 'send' || f.type === 'broadcast' ? `${f.type}.${f.msg.type}` : f.type)));
    }
    expect(seen).toEqual(
      expect.arrayContaining(['send.LEADERINFO', 'syncLearner', 'send.NEWLEADER', 'established', 'propose', 'broadcast.COMMIT', 'deliver']),
    );
    expect(direct.states()).toEqual(['quiescing']); // the unexpected UPTODATE lost the only learner, so the quorum
  });
});
