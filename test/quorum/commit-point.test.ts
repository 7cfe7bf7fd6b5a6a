import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HierarchicalQuorum, MajorityQuorum, WeightedQuorum, largestQuorumValue, makeQuorumSystem, type QuorumSystem } from '../../src/quorum/index.js';
import { makeZxid } from '../../src/zxid.js';
import { anySpec } from './arbitraries.js';

/** Reference: try every reported value, keep the largest whose ">= v" set is a quorum. */
function bruteForce(acked: Map<number, bigint>, q: QuorumSystem): bigint | undefined {
  let best: bigint | undefined;
  for (const v of acked.values()) {
    const set = [...acked].filter(([, x]) => x >= v).map(([s]) => s);
    if (q.containsQuorum(set) && (best === undefined || v > best)) best = v;
  }
  return best;
}

describe('largestQuorumValue', () => {
  const z = (c: number) => makeZxid(1, c);

  it('majority of 5: the third highest ack', () => {
    const q = new MajorityQuorum([1, 2, 3, 4, 5]);
    const acked = new Map([[1, z(10)], [2, z(7)], [3, z(9)], [4, z(3)], [5, z(8)]]);
    expect(largestQuorumValue(acked, q)).toBe(z(8));
  });

  it('is undefined until a quorum has reported', () => {
    const q = new MajorityQuorum([1, 2, 3, 4, 5]);
    expect(largestQuorumValue(new Map(), q)).toBeUndefined();
    expect(largestQuorumValue(new Map([[1, z(5)], [2, z(5)]]), q)).toBeUndefined();
    expect(largestQuorumValue(new Map([[1, z(5)], [2, z(5)], [3, z(1)]]), q)).toBe(z(1));
  });

  it('handles ties', () => {
    const q = new MajorityQuorum([1, 2, 3]);
    expect(largestQuorumValue(new Map([[1, z(4)], [2, z(4)], [3, z(4)]]), q)).toBe(z(4));
    expect(largestQuorumValue(new Map([[1, z(6)], [2, z(4)], [3, z(4)]]), q)).toBe(z(4));
  });

  it('ignores observers, unknown ids and weight-0 servers', () => {
    const q = new WeightedQuorum([[1, 1], [2, 1], [3, 1], [4, 0]]);
    const acked = new Map([[1, z(9)], [4, z(9)], [99, z(9)], [2, z(2)], [3, z(1)]]);
    expect(largestQuorumValue(acked, q)).toBe(z(2));
  });

  it('follows the weights', () => {
    const q = new WeightedQuorum([[1, 3], [2, 1], [3, 1]]);
    expect(largestQuorumValue(new Map([[1, z(9)], [2, z(1)], [3, z(1)]]), q)).toBe(z(9));
  });

  it('hierarchical: the seed example commits at the value held by 2+2 servers of two groups', () => {
    const q = new HierarchicalQuorum([[1, [1, 2, 3]], [2, [4, 5, 6]], [3, [7, 8, 9]]]);
    const acked = new Map([[1, z(20)], [2, z(19)], [4, z(18)], [5, z(17)], [3, z(30)], [7, z(30)]]);
    // >= 19: {1,2,3,7}: group 1 only. >= 18: adds 4. >= 17: adds 5 -> groups 1 and 2.
    expect(largestQuorumValue(acked, q)).toBe(z(17));
  });

  it('spans epochs (compares full 64-bit zxids)', () => {
    const q = new MajorityQuorum([1, 2, 3]);
    const acked = new Map([[1, makeZxid(2, 1)], [2, makeZxid(1, 0xffffffff)], [3, makeZxid(2, 5)]]);
    expect(largestQuorumValue(acked, q)).toBe(makeZxid(2, 1));
  });

  it('agrees with a brute-force reference on random inputs', () => {
    fc.assert(
      fc.property(anySpec(9), fc.array(fc.tuple(fc.integer({ min: 0, max: 32 }), fc.bigInt({ min: 0n, max: 12n }))), (spec, pairs) => {
        const q = makeQuorumSystem(spec);
        const acked = new Map(pairs);
        expect(largestQuorumValue(acked, q)).toBe(bruteForce(acked, q));
      }),
      { numRuns: 500 },
    );
  });
});
