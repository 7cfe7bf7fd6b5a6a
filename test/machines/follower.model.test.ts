/**
 * Model-based test of `follower`: hand-written paths (its guards read context: epochs, zxids,
 * storage in flight, retry budget), one through every phase and one per failure, each QUORUM_MESSAGE
 * type where it matters; timers fired explicitly (`timer`) or by the SimulatedClock (`advance`).
 * Checks the NEWLEADER order: the log durable, then currentEpoch persisted, and only then the ACK.
 */
import { describe, expect, it } from 'vitest';
import { followerMachine, type FollowerInput } from '../../machines/follower.js';
import { DEFAULT_TIMING as T, type PeerEvent, type Timing } from '../../machines/types.js';
import type { QuorumMessage } from '../../src/protocol/messages.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import { makeZxid } from '../../src/zxid.js';
import { coverageOf, driveCovered } from './coverage.js';

const cov = coverageOf('follower', followerMachine);
const quorum = new MajorityQuorum([1, 2, 3]);
const z = makeZxid;
const qm = (msg: QuorumMessage): PeerEvent => ({ type: 'QUORUM_MESSAGE', from: 1, msg });
const txn = (e: number, c: number) => ({ zxid: z(e, c), data: new Uint8Array([c]) });
const PING = qm({ type: 'PING', zxid: 0n });

function start(acceptedEpoch = 1, timing: Timing = T) {
  const input: Omit<FollowerInput, 'io'> = {
    self: 2,
    leader: 1,
    quorum,
    timing,
    facts: { acceptedEpoch, currentEpoch: acceptedEpoch, lastLogged: z(1, 3), history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] } },
  };
  return driveCovered(followerMachine, input);
}

/** connected, LEADERINFO for epoch 2 accepted and persisted: synchronization.awaitingMode */
function inSync() {
  const h = start();
  h.send({ type: 'LEADER_CONNECTED', leader: 1 });
  h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
  h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
  return h;
}

const sent = (h: ReturnType<typeof start>) => h.take('send').map((e) => e.msg.type);

describe('follower: through every phase', () => {
  it('connects (after a failed attempt), discovers, syncs by DIFF and broadcasts', () => {
    const h = start();
    expect(h.take('connect')).toHaveLength(1);
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'c1', data: new Uint8Array() }] });
    h.send({ type: 'CLIENT_SYNC', id: 'c2' });
    expect(h.take('rejectRequests').flatMap((e) => e.ids)).toEqual(['c1', 'c2']);
    h.send({ type: 'LOG_SYNCED', zxid: z(1, 3) });
    h.send({ type: 'LEADER_CONNECT_FAILED', leader: 1 });
    h.timer('connectRetry', 'follower.connecting.pausing');
    expect(h.take('connect')).toHaveLength(1);
    h.send({ type: 'LEADER_CONNECTED', leader: 1 });
    expect(sent(h)).toEqual(['FOLLOWERINFO']);
    h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
    expect(h.take('persistAcceptedEpoch')).toEqual([{ type: 'persistAcceptedEpoch', epoch: 2 }]);
    expect(sent(h)).toEqual([]); // no ACKEPOCH before the epoch is durable
    h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
    expect(h.take('send').map((e) => e.msg)).toEqual([{ type: 'ACKEPOCH', currentEpoch: 1, lastZxid: z(1, 3), counted: true }]);
    h.send(PING);
    h.send(qm({ type: 'DIFF', zxid: z(2, 1) }));
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 1)] }));
    h.send(qm({ type: 'COMMIT', zxid: z(1, 3) }));
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 1) }));
    h.send(PING);
    h.send(qm({ type: 'NEWLEADER', epoch: 2, zxid: z(2, 1) }));
    expect(h.states()).toContain('session.synchronization.awaitingDurableLog');
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 2)] }));
    h.send(qm({ type: 'COMMIT', zxid: z(2, 1) }));
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 2) }));
    h.send(PING);
    h.take();
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    expect(h.take('persistCurrentEpoch')).toEqual([{ type: 'persistCurrentEpoch', epoch: 2 }]);
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 3)] }));
    h.send(qm({ type: 'COMMIT', zxid: z(2, 1) }));
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 3) }));
    h.send(PING);
    expect(sent(h)).not.toContain('ACKNEWLEADER'); // only after CURRENT_EPOCH_PERSISTED
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    expect(sent(h)).toEqual(['ACKNEWLEADER']);
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 3) });
    expect(h.take('send').map((e) => e.msg)).toEqual([{ type: 'ACK', zxid: z(2, 3) }]);
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 4)] }));
    h.send(qm({ type: 'COMMIT', zxid: z(2, 2) }));
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 3) }));
    // not synced yet: the leader's ack commits nothing here (only its COMMIT does)
    expect(h.take('deliver').at(-1)).toEqual({ type: 'deliver', upTo: z(2, 2) });
    h.send(PING);
    h.send(qm({ type: 'UPTODATE', committed: z(2, 2) }));
    expect(h.states()).toContain('session.broadcast');
    // synced: the leader is watched with the shorter limit from now on
    expect(h.take('watchSilence').map((e) => e.ms)).toEqual([T.leaderTimeoutMs ?? T.syncLimit * T.tickTime]);
    h.take();
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 4) });
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'c3', data: new Uint8Array() }] });
    h.send({ type: 'CLIENT_SYNC', id: 'c4' });
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 5)] }));
    h.send(qm({ type: 'COMMIT', zxid: z(2, 4) }));
    h.send(PING);
    h.send(qm({ type: 'SYNCREPLY', id: 'c4', zxid: z(2, 4) }));
    expect(sent(h)).toEqual(['ACK', 'REQUEST', 'SYNC', 'PING']);
    expect(h.take('deliver').at(-1)).toEqual({ type: 'deliver', upTo: z(2, 4) });
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 5) }));
    expect(h.take('deliver')).toEqual([]); // 2:5 is not durable here yet
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 5) });
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 5) }]); // no COMMIT needed
    expect(h.take('syncDone')).toHaveLength(1);
    h.send(qm({ type: 'LEADERINFO', newEpoch: 3 }));
    expect(h.status()).toBe('done');
  });

  it('a PING that overtakes the sync stream is answered in every synchronization state and commits nothing', () => {
    // The leader sends PINGs ahead of a learner's queued sync stream; they carry its commit point.
    const far = qm({ type: 'PING', zxid: z(2, 50) });
    const answersOnly = (h: ReturnType<typeof start>, state: string): void => {
      h.take();
      h.send(far);
      expect(h.states()).toContain(`session.synchronization.${state}`);
      expect(sent(h)).toEqual(['PING']);
      expect(h.take('deliver')).toEqual([]);
    };
    const h = inSync();
    answersOnly(h, 'awaitingMode');
    h.send(qm({ type: 'SNAP', zxid: z(1, 9), size: 2 }));
    answersOnly(h, 'receivingSnapshot');
    h.send(qm({ type: 'SNAPCHUNK', offset: 0, data: new Uint8Array(2), last: true }));
    answersOnly(h, 'receiving');
    h.send({ type: 'SNAPSHOT_INSTALLED', zxid: z(1, 9) });
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 1)] }));
    h.send(qm({ type: 'NEWLEADER', epoch: 2, zxid: z(2, 1) }));
    answersOnly(h, 'awaitingDurableLog');
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    answersOnly(h, 'persistingCurrentEpoch');
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    answersOnly(h, 'awaitingUpToDate');
  });

  it('TRUNC and SNAP syncs; durability events at any time', () => {
    const a = inSync();
    a.send({ type: 'TRUNCATED', zxid: z(1, 3) });
    a.send(qm({ type: 'TRUNC', zxid: z(1, 2) }));
    expect(a.take('truncate')).toEqual([{ type: 'truncate', zxid: z(1, 2) }]);
    a.send({ type: 'TRUNCATED', zxid: z(1, 2) });
    expect(a.states()).toContain('session.synchronization.receiving');
    const b = inSync();
    b.send(qm({ type: 'SNAP', zxid: z(1, 9), size: 4 }));
    b.send(qm({ type: 'SNAPCHUNK', offset: 0, data: new Uint8Array(2), last: false }));
    b.send(PING);
    b.send(qm({ type: 'SNAPCHUNK', offset: 2, data: new Uint8Array(2), last: true }));
    expect(b.take('installSnapshot')).toEqual([{ type: 'installSnapshot', zxid: z(1, 9), size: 4 }]);
    b.send({ type: 'SNAPSHOT_INSTALLED', zxid: z(1, 9) });
    expect(b.states()).toContain('session.synchronization.receiving');
  });

  it('a leader epoch equal to the accepted one is acked uncounted (a reconnect)', () => {
    const h = start(2);
    h.send({ type: 'LEADER_CONNECTED', leader: 1 });
    h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
    expect(h.take('send').at(-1)!.msg).toMatchObject({ type: 'ACKEPOCH', counted: false });
  });
});

describe('follower: LEADERACK (the leader and this follower form a quorum)', () => {
  /** synced by DIFF at 1:3 under leader 1 of `members`, in broadcast */
  function synced(members: number[]) {
    const input: Omit<FollowerInput, 'io'> = {
      self: 2,
      leader: 1,
      quorum: new MajorityQuorum(members),
      timing: T,
      facts: { acceptedEpoch: 1, currentEpoch: 1, lastLogged: z(1, 3), history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] } },
    };
    const h = driveCovered(followerMachine, input);
    h.send({ type: 'LEADER_CONNECTED', leader: 1 });
    h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
    h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
    h.send(qm({ type: 'DIFF', zxid: z(1, 3) }));
    h.send(qm({ type: 'NEWLEADER', epoch: 2, zxid: z(1, 3) }));
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    h.send(qm({ type: 'UPTODATE', committed: z(1, 3) }));
    expect(h.states()).toContain('session.broadcast');
    h.take();
    return h;
  }

  it('commits what both logged, in either order of the two acks, never past either', () => {
    const h = synced([1, 2, 3]);
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 1), txn(2, 2)] }));
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 2) });
    expect(h.take('deliver')).toEqual([]);
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 1) }));
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 1) }]);
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 3)] }));
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 3) }));
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 2) }]); // 2:3 not durable here
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 3) });
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 3) }]);
    h.send(qm({ type: 'COMMIT', zxid: z(2, 3) })); // the leader's COMMIT then changes nothing
    expect(h.take('deliver')).toEqual([]);
    expect(h.status()).toBe('active');
    // a PING carries the leader's commit point: it commits too (never past what we received)
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 4)] }));
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 4) });
    h.take();
    h.send(qm({ type: 'PING', zxid: z(2, 9) }));
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 4) }]);
    expect(h.take('send').map((e) => e.msg.type)).toEqual(['PING']);
  });

  it('where the two are no quorum (5 servers), only COMMIT commits', () => {
    const h = synced([1, 2, 3, 4, 5]);
    h.send(qm({ type: 'PROPOSAL', txns: [txn(2, 1)] }));
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    h.send(qm({ type: 'LEADERACK', zxid: z(2, 1) }));
    expect(h.take('deliver')).toEqual([]);
    h.send(qm({ type: 'COMMIT', zxid: z(2, 1) }));
    expect(h.take('deliver')).toEqual([{ type: 'deliver', upTo: z(2, 1) }]);
  });
});

describe('follower: every way to give up', () => {
  const failsAt = (name: string, prepare: (h: ReturnType<typeof start>) => void, last: PeerEvent) =>
    it(name, () => {
      const h = start();
      prepare(h);
      h.send(last);
      expect(h.status()).toBe('done');
      expect(h.take('log').length).toBeGreaterThan(0);
    });
  const connected = (h: ReturnType<typeof start>) => h.send({ type: 'LEADER_CONNECTED', leader: 1 });
  const sync = (h: ReturnType<typeof start>) => {
    connected(h);
    h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
    h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
  };
  const receiving = (h: ReturnType<typeof start>) => {
    sync(h);
    h.send(qm({ type: 'DIFF', zxid: z(1, 3) }));
  };
  const durableWait = (h: ReturnType<typeof start>) => {
    sync(h);
    h.send(qm({ type: 'TRUNC', zxid: z(1, 3) })); // the truncation is still in flight (no TRUNCATED yet)
    h.send(qm({ type: 'NEWLEADER', epoch: 2, zxid: z(1, 3) }));
    expect(h.states()).toContain('session.synchronization.awaitingDurableLog');
  };
  const persisting = (h: ReturnType<typeof start>) => {
    receiving(h);
    h.send(qm({ type: 'NEWLEADER', epoch: 2, zxid: z(1, 3) }));
  };
  const upToDateWait = (h: ReturnType<typeof start>) => {
    persisting(h);
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
  };
  const bad = qm({ type: 'ACKEPOCH', currentEpoch: 0, lastZxid: 0n, counted: true });

  failsAt('awaitingLeaderInfo: anything but LEADERINFO', connected, bad);
  failsAt('checkingEpoch: an epoch older than accepted', connected, qm({ type: 'LEADERINFO', newEpoch: 0 }));
  failsAt('persistingAcceptedEpoch: any message', (h) => {
    connected(h);
    h.send(qm({ type: 'LEADERINFO', newEpoch: 2 }));
  }, PING);
  failsAt('awaitingMode: not DIFF/TRUNC/SNAP', sync, bad);
  // A fresh follower has applied nothing (delivered = 0) when it reaches awaitingMode, so with real
  // zxids truncKeepsCommitted always holds; only an impossible negative zxid shows the refusal.
  failsAt('awaitingMode: TRUNC below what was applied is refused', sync, qm({ type: 'TRUNC', zxid: -1n }));
  failsAt('receivingSnapshot: not a chunk', (h) => {
    sync(h);
    h.send(qm({ type: 'SNAP', zxid: z(1, 9), size: 1 }));
  }, bad);
  failsAt('receiving: NEWLEADER that does not match the log', receiving, qm({ type: 'NEWLEADER', epoch: 2, zxid: z(2, 7) }));
  failsAt('receiving: a proposal with a hole', receiving, qm({ type: 'PROPOSAL', txns: [txn(2, 5)] }));
  failsAt('awaitingDurableLog: an unexpected message', durableWait, bad);
  failsAt('persistingCurrentEpoch: an unexpected message', persisting, bad);
  failsAt('awaitingUpToDate: a COMMIT of something never received', upToDateWait, qm({ type: 'COMMIT', zxid: z(9, 9) }));
  failsAt('the leader connection closes during sync', sync, { type: 'PEER_DISCONNECTED', sid: 1 });

  it('a refused connection during discovery is retried; dialing gives up after initLimit', () => {
    const h = start();
    h.send({ type: 'LEADER_CONNECTED', leader: 1 });
    h.send({ type: 'PEER_DISCONNECTED', sid: 1 });
    expect(h.states()).toEqual(['connecting.pausing']);
    h.advance(T.connectRetryMs);
    expect(h.states()).toEqual(['connecting.dialing']);
    h.advance(T.initLimit * T.tickTime);
    expect(h.status()).toBe('done');
  });

  it('retries stop once their total would exceed initLimit', () => {
    const h = start(1, { ...T, initLimit: 1, tickTime: 100, connectRetryMs: 50 });
    h.send({ type: 'LEADER_CONNECT_FAILED', leader: 1 });
    h.advance(50);
    h.send({ type: 'LEADER_CONNECT_FAILED', leader: 1 });
    h.advance(50);
    expect(h.status()).toBe('done');
  });

  it("leader silence: watched for initLimit from the session's start; only the leader's PEER_SILENT ends the role", () => {
    const h = start();
    sync(h);
    const [w] = h.take('watchSilence');
    expect(w).toMatchObject({ sid: 1, ms: T.initLimit * T.tickTime });
    h.send({ type: 'PEER_SILENT', sid: 3 });
    expect(h.status()).toBe('active');
    h.send({ type: 'PEER_SILENT', sid: 1 });
    expect(h.status()).toBe('done');
    expect(h.actor.getSnapshot().output).toEqual({ reason: 'leader silent for too long' });
    expect(h.take('unwatchSilence')).toEqual([{ type: 'unwatchSilence', sid: 1, owner: w!.owner }]);
  });
});

describe('follower: coverage', () => {
  it('every state and transition was reached', () => cov.assertComplete());
});
