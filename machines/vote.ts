/** Fast leader election's vote order and quorum tests, as pure functions. */
import type { Zxid } from '../src/zxid.js';
import type { PeerState, ServerId } from '../src/protocol/messages.js';
import type { QuorumSystem } from '../src/quorum/quorum-system.js';

export interface Vote {
  leader: ServerId;
  zxid: Zxid;
  peerEpoch: number;
}

export interface ReceivedVote extends Vote {
  round: number;
  state: PeerState;
}

/**
 * True when `candidate` beats `current`: higher peerEpoch, then higher zxid, then higher sid.
 * A server of weight 0 never wins (it cannot form a quorum's worth of trust on its own).
 */
export function betterVote(candidate: Vote, current: Vote, quorum: QuorumSystem): boolean {
  if (quorum.weight(candidate.leader) === 0) return false;
  if (candidate.peerEpoch !== current.peerEpoch) return candidate.peerEpoch > current.peerEpoch;
  if (candidate.zxid !== current.zxid) return candidate.zxid > current.zxid;
  return candidate.leader > current.leader;
}

export function sameVote(a: Vote, b: Vote): boolean {
  return a.leader === b.leader && a.zxid === b.zxid && a.peerEpoch === b.peerEpoch;
}

/** The servers in `votes` that vote exactly `vote` in `round` form a quorum. */
export function hasQuorumFor(
  votes: Readonly<Record<ServerId, ReceivedVote>>,
  vote: Vote,
  round: number,
  quorum: QuorumSystem,
): boolean {
  const agreeing: ServerId[] = [];
  for (const key in votes) {
    const v = votes[key]!;
    if (v.round === round && sameVote(v, vote)) agreeing.push(Number(key));
  }
  return quorum.containsQuorum(agreeing);
}

/**
 * ZOOKEEPER-1732: only accept an established leader that itself says it is LEADING (or ourselves,
 * when we are the one voted for), so a stale quorum of followers cannot make us follow a ghost.
 */
export function leaderConfirmed(
  votes: Readonly<Record<ServerId, ReceivedVote>>,
  leader: ServerId,
  self: ServerId,
): boolean {
  if (leader === self) return true;
  const v = votes[leader];
  return v !== undefined && v.state === 'LEADING';
}
