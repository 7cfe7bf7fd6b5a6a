import type { QuorumSystem } from './quorum-system.js';

/**
 * The highest value v such that the servers whose value is >= v contain a quorum.
 *
 * With `acked` mapping each server to its highest cumulative acked zxid, this is the leader's
 * commit point: every zxid <= v has been acked by a quorum. Servers that are not voters are
 * ignored. Returns undefined when even all reported voters together are not a quorum.
 */
export function largestQuorumValue(acked: ReadonlyMap<number, bigint>, q: QuorumSystem): bigint | undefined {
  const entries: Array<[number, bigint]> = [];
  for (const e of acked) if (q.isVoter(e[0])) entries.push(e);
  // Highest first: grow the set one value at a time; the first quorum found gives the largest v.
  entries.sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0));
  const set = new Set<number>();
  for (let i = 0; i < entries.length; i++) {
    const [sid, value] = entries[i]!;
    set.add(sid);
    // Add every server tied at this value before testing, so {s : acked(s) >= value} is exact.
    if (i + 1 < entries.length && entries[i + 1]![1] === value) continue;
    if (q.containsQuorum(set)) return value;
  }
  return undefined;
}
