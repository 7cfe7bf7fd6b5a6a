/** The leader's choice of DIFF, TRUNC or SNAP for one learner, from the two histories' summaries. */
import { counterOf, epochOf, makeZxid, type Zxid } from '../src/zxid.js';
import type { EpochRange, LogHistory, SyncPlan } from './types.js';

/** True when the history holds `z` as a record, or `z` is exactly its base. */
export function historyContains(h: LogHistory, z: Zxid): boolean {
  if (z === h.base) return true;
  if (z < h.base) return false;
  const e = epochOf(z);
  const c = counterOf(z);
  return h.ranges.some((r) => r.epoch === e && c >= r.first && c <= r.last);
}

/** The largest zxid the history holds (or its base) that is below `z`; undefined when none. */
export function largestBelow(h: LogHistory, z: Zxid): Zxid | undefined {
  let best: Zxid | undefined = h.base < z ? h.base : undefined;
  for (const r of h.ranges) {
    const lo = makeZxid(r.epoch, r.first);
    if (lo >= z) break;
    const hi = makeZxid(r.epoch, r.last);
    best = hi < z ? hi : z - 1n;
  }
  return best;
}

export function lastOfHistory(h: LogHistory): Zxid {
  const r = h.ranges[h.ranges.length - 1];
  return r ? makeZxid(r.epoch, r.last) : h.base;
}

/** The history of a leader of `epoch` that has proposed up to `lastProposed` on top of its log `h`. */
export function withCurrentEpoch(h: LogHistory, epoch: number, lastProposed: Zxid): LogHistory {
  if (epochOf(lastProposed) !== epoch || counterOf(lastProposed) === 0) return h;
  return { base: h.base, ranges: [...h.ranges, { epoch, first: 1, last: counterOf(lastProposed) }] };
}

export function truncateHistory(h: LogHistory, z: Zxid): LogHistory {
  if (z <= h.base) return { base: z < h.base ? z : h.base, ranges: [] };
  const ranges: EpochRange[] = [];
  const e = epochOf(z);
  const c = counterOf(z);
  for (const r of h.ranges) {
    if (r.epoch < e) ranges.push(r);
    else if (r.epoch === e && r.first <= c) ranges.push({ epoch: e, first: r.first, last: Math.min(r.last, c) });
  }
  return { base: h.base, ranges };
}

/**
 * Plans the sync of a learner whose log ends at `learnerLast` against the leader's history `h`.
 * - learner's last zxid is in the leader's history: DIFF from it;
 * - learner has a tail the leader lacks: TRUNC to the last zxid they share, but never across an
 *   epoch boundary (then SNAP), since a shared zxid of another epoch says nothing about the tail;
 * - learner is behind what the leader's log retains: SNAP.
 */
export function planSync(h: LogHistory, learnerLast: Zxid): SyncPlan {
  if (historyContains(h, learnerLast)) return { mode: 'DIFF', from: learnerLast };
  if (learnerLast < h.base) return { mode: 'SNAP' };
  const shared = largestBelow(h, learnerLast);
  if (shared !== undefined && shared >= h.base && epochOf(shared) === epochOf(learnerLast)) {
    return { mode: 'TRUNC', to: shared };
  }
  return { mode: 'SNAP' };
}
