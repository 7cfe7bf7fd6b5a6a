/**
 * `deliveryTarget`: the runtime hands hot events straight to the actor that acts on them. Checked
 * here: which actor (and event) it picks in each peer state, and that delivering there gives the
 * same effects as sending the event to the peer.
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
    expect(deliveryTarget(snap, qm(3, { type: 'PING', zxid: 0n }))?.actor).toBe(role);
    expect(deliveryTarget(snap, { type: 'LOG_SYNCED', zxid: Z })?.actor).toBe(role);
    expect(deliveryTarget(snap, { type: 'CLIENT_REQUESTS', requests: [] })?.actor).toBe(role);
    for (const e of [
      { type: 'TRUNCATED', zxid: Z },
      { type: 'CURRENT_EPOCH_PERSISTED', epoch: 1 },
      { type: 'PEER_DISCONNECTED', sid: 3 },
      { type: 'PEER_SILENT', sid: 3 },
      { type: 'LEADER_CONNECTED', leader: 3 },
    ] as PeerEvent[]) {
      expect(deliveryTarget(snap, e)).toBeNull();
    }
  });

  it('leading: a known learner goes to its handler, FOLLOWERINFO and strangers to the leader', () => {
    const h = leading();
    const snap = h.actor.getSnapshot();
    const role = snap.children.role!;
    const handler = deliveryTarget(snap, qm(2, { type: 'PING', zxid: 0n }))?.actor;
    expect(handler).toBeDefined();
    expect(handler).not.toBe(role);
    expect(handler!.id).toMatch(/^learner-2-/);
    // not synced yet: an ACK is the handler's to judge (it ends the session)
    expect(deliveryTarget(snap, qm(2, { type: 'ACK', zxid: Z }))?.actor).toBe(handler);
    expect(deliveryTarget(snap, qm(2, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: Z, observer: false }))?.actor).toBe(role);
    expect(deliveryTarget(snap, qm(3, { type: 'PING', zxid: 0n }))?.actor).toBe(role);
    expect(deliveryTarget(snap, { type: 'LOG_SYNCED', zxid: Z })?.actor).toBe(role);
  });

  it("leading: a synced learner's ACK, REQUEST and SYNC go to the leader as the handler's relay", () => {
    const h = leading();
    for (const e of [
      { type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 },
      qm(2, { type: 'ACKEPOCH', currentEpoch: 1, lastZxid: Z, counted: true }),
      { type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 },
      qm(2, { type: 'ACKNEWLEADER', epoch: 2 }),
    ] as PeerEvent[])
      h.send(e);
    const snap = h.actor.getSnapshot();
    const role = snap.children.role!;
    const z = makeZxid(2, 1);
    const requests = [{ id: 'b', data: new Uint8Array([2]) }];
    expect(deliveryTarget(snap, qm(2, { type: 'ACK', zxid: z }))).toEqual({ actor: role, event: { type: 'LEARNER_ACK', sid: 2, zxid: z } });
    expect(deliveryTarget(snap, qm(2, { type: 'REQUEST', requests }))).toEqual({ actor: role, event: { type: 'LEARNER_REQUESTS', sid: 2, requests } });
    expect(deliveryTarget(snap, qm(2, { type: 'SYNC', id: 's' }))).toEqual({ actor: role, event: { type: 'LEARNER_SYNC', sid: 2, id: 's' } });
    // the rest stays with the handler: a PING proves nothing to the leader, anything else ends the session
    expect(deliveryTarget(snap, qm(2, { type: 'PING', zxid: 0n }))?.actor.id).toMatch(/^learner-2-/);
    expect(deliveryTarget(snap, qm(2, { type: 'UPTODATE', committed: 0n }))?.actor.id).toMatch(/^learner-2-/);
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
      qm(2, { type: 'SYNC', id: 's1' }),
      qm(2, { type: 'REQUEST', requests: [{ id: 'c', data: new Uint8Array([3]) }] }),
      qm(2, { type: 'ACK', zxid: makeZxid(2, 3) }),
      { type: 'LOG_SYNCED', zxid: makeZxid(2, 3) },
      qm(2, { type: 'PING', zxid: 0n }),
      { type: 'PEER_SILENT', sid: 3 },
      qm(2, { type: 'UPTODATE', committed: 0n }),
    ];
    const viaPeer = leading();
    const direct = leading();
    viaPeer.take();
    direct.take();
    const seen: string[] = [];
    for (const e of events) {
      viaPeer.send(e);
      const to = deliveryTarget(direct.actor.getSnapshot(), e);
      if (to) to.actor.send(to.event);
      else direct.send(e);
      const effects = direct.take();
      expect(effects).toEqual(viaPeer.take());
      expect(direct.states()).toEqual(viaPeer.states());
      seen.push(...effects.map((f) => (f.type === 'send' || f.type === 'broadcast' ? `${f.type}.${f.msg.type}` : f.type)));
    }
    expect(seen).toEqual(
      expect.arrayContaining(['send.LEADERINFO', 'syncLearner', 'send.NEWLEADER', 'established', 'propose', 'broadcast.COMMIT', 'deliver', 'send.SYNCREPLY']),
    );
    expect(direct.states()).toEqual(['quiescing']); // the unexpected UPTODATE lost the only learner, so the quorum
  });
});
