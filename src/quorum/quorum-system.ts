/**
 * Quorum systems: which sets of servers may decide. Zab's safety rests on one property only:
 * any two quorums of the same system intersect. Election, epoch agreement and commit all ask
 * `containsQuorum`, so it must be cheap (the leader calls it on every ACK batch).
 */

export type QuorumKind = 'majority' | 'weighted' | 'hierarchical';

export interface QuorumSystem {
  readonly kind: QuorumKind;
  /** Servers whose votes count: participants with weight > 0. Observers are never members. */
  readonly voters: ReadonlySet<number>;
  /** All participants, including weight-0 ones (they follow and take part in elections but never count). */
  readonly participants: ReadonlySet<number>;
  /** Weight of a server's vote; 0 for weight-0 participants, observers and unknown ids. */
  weight(sid: number): number;
  /** weight(sid) > 0. A server that is not a voter can never win an election. */
  isVoter(sid: number): boolean;
  /** True when `set` holds a quorum. Unknown ids, observers and duplicates are ignored. */
  containsQuorum(set: Iterable<number>): boolean;
  /** Human readable, for logs. */
  describe(): string;
}

/** A quorum system was constructed from an invalid configuration. */
export class QuorumConfigError extends Error {
  override readonly name = 'QuorumConfigError';
}

/** Server ids are non-negative safe integers (ZooKeeper's sid is a long; we stay exact in a double). */
export function checkServerId(sid: number, what = 'server id'): void {
  if (!Number.isSafeInteger(sid) || sid < 0) {
    throw new QuorumConfigError(`${what} must be a non-negative integer, got ${sid}`);
  }
}

/** Weights are non-negative safe integers; integral weights keep the "> half" test exact. */
export function checkWeight(sid: number, w: number): void {
  if (!Number.isSafeInteger(w) || w < 0) {
    throw new QuorumConfigError(`weight of server ${sid} must be a non-negative integer, got ${w}`);
  }
}

/** Sums weights, refusing totals beyond 2^53 where doubles stop being exact. */
export function safeSum(values: Iterable<number>, what: string): number {
  let total = 0;
  for (const v of values) total += v;
  if (!Number.isSafeInteger(total)) throw new QuorumConfigError(`total weight of ${what} is too large (${total})`);
  return total;
}

/** Strictly more than half, in integers: `part > whole / 2` without fractions. */
export function isMoreThanHalf(part: number, whole: number): boolean {
  return part * 2 > whole;
}

/** Ids as a compact sorted list for describe(): `1,2,3`. */
export function formatIds(ids: Iterable<number>): string {
  return [...ids].sort((a, b) => a - b).join(',');
}
