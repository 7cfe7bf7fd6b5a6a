/** fast-check generators for valid quorum configurations (shared by the quorum tests). */
import fc from 'fast-check';
import type { QuorumSpec } from '../../src/quorum/index.js';

const ids = (min: number, max: number) => fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: min, maxLength: max });

export const majoritySpec = (maxServers = 9): fc.Arbitrary<QuorumSpec> =>
  ids(1, maxServers).map((voters) => ({ kind: 'majority' as const, voters }));

export const weightedSpec = (maxServers = 9): fc.Arbitrary<QuorumSpec> =>
  ids(1, maxServers)
    .chain((sids) => fc.tuple(fc.constant(sids), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: sids.length, maxLength: sids.length })))
    .filter(([, ws]) => ws.some((w) => w > 0))
    .map(([sids, ws]) => ({ kind: 'weighted' as const, weights: new Map(sids.map((s, i) => [s, ws[i]!])) }));

export const hierarchicalSpec = (maxServers = 9): fc.Arbitrary<QuorumSpec> =>
  ids(1, maxServers)
    .chain((sids) =>
      fc.tuple(
        fc.constant(sids),
        // group index per server (at most 4 groups), and a weight per server
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: sids.length, maxLength: sids.length }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: sids.length, maxLength: sids.length }),
      ),
    )
    .filter(([, , ws]) => ws.some((w) => w > 0))
    .map(([sids, gs, ws]) => {
      const groups = new Map<number, number[]>();
      sids.forEach((s, i) => {
        const g = gs[i]! + 1;
        groups.set(g, [...(groups.get(g) ?? []), s]);
      });
      return { kind: 'hierarchical' as const, groups, weights: new Map(sids.map((s, i) => [s, ws[i]!])) };
    });

export const anySpec = (maxServers = 9): fc.Arbitrary<QuorumSpec> =>
  fc.oneof(majoritySpec(maxServers), weightedSpec(maxServers), hierarchicalSpec(maxServers));

/** All subsets of `items` (2^n of them; keep n small). */
export function* subsets<T>(items: readonly T[]): Generator<T[]> {
  for (let mask = 0; mask < 1 << items.length; mask++) yield items.filter((_, i) => (mask >> i) & 1);
}
