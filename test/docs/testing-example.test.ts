// Quoted in docs/testing.md: test-driving one transition of the follower with the harness.
import { expect, it } from 'vitest';
import { followerMachine } from '../../machines/follower.js';
import { DEFAULT_TIMING } from '../../machines/types.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import { drive } from '../../src/testing/harness.js';
import { makeZxid } from '../../src/zxid.js';

it('a follower persists a new epoch before it acks it', () => {
  const facts = { acceptedEpoch: 1, currentEpoch: 1, lastLogged: makeZxid(1, 3), history: { base: 0n, ranges: [] } };
  const h = drive(followerMachine, { self: 2, leader: 1, quorum: new MajorityQuorum([1, 2, 3]), timing: DEFAULT_TIMING, facts });

  h.send({ type: 'LEADER_CONNECTED', leader: 1 });
  expect(h.take('send').map((e) => e.msg.type)).toEqual(['FOLLOWERINFO']);

  h.send({ type: 'QUORUM_MESSAGE', from: 1, msg: { type: 'LEADERINFO', newEpoch: 2 } });
  expect(h.states()).toContain('session.discovery.persistingAcceptedEpoch');
  expect(h.take('persistAcceptedEpoch')).toEqual([{ type: 'persistAcceptedEpoch', epoch: 2 }]);
  expect(h.take('send')).toEqual([]); // no ACKEPOCH yet

  h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch: 2 });
  expect(h.take('send').map((e) => e.msg)).toEqual([{ type: 'ACKEPOCH', currentEpoch: 1, lastZxid: makeZxid(1, 3), counted: true }]);

  // the runtime watches the leader for silence and reports it; the follower gives up
  expect(h.take('watchSilence')).toMatchObject([{ sid: 1, ms: DEFAULT_TIMING.initLimit * DEFAULT_TIMING.tickTime }]);
  h.send({ type: 'PEER_SILENT', sid: 1 });
  expect(h.actor.getSnapshot().output).toEqual({ reason: 'leader silent for too long' });
});
