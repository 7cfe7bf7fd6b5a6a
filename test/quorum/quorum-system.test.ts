import { describe, expect, it } from 'vitest';
import {
  HierarchicalQuorum,
  MajorityQuorum,
  QuorumConfigError,
  WeightedQuorum,
  makeQuorumSystem,
} from '../../src/quorum/index.js';

describe('MajorityQuorum', () => {
  const q = new MajorityQuorum([1, 2, 3, 4, 5]);

  it('needs more than half of the voters', () => {
    expect(q.containsQuorum(new Set([1, 2]))).toBe(false);
    expect(q.containsQuorum(new Set([1, 2, 3]))).toBe(true);
    expect(q.containsQuorum([5, 4, 3, 2, 1])).toBe(true);
    expect(q.containsQuorum([])).toBe(false);
  });

  it('an even ensemble needs n/2+1', () => {
    const q4 = new MajorityQuorum([1, 2, 3, 4]);
    expect(q4.containsQuorum([1, 2])).toBe(false);
    expect(q4.containsQuorum([1, 2, 3])).toBe(true);
  });

  it('a single server is its own quorum', () => {
    const q1 = new MajorityQuorum([7]);
    expect(q1.containsQuorum([7])).toBe(true);
    expect(q1.containsQuorum([])).toBe(false);
  });

  it('ignores unknown ids (observers are unknown to it) and duplicates', () => {
    expect(q.containsQuorum([1, 2, 9, 10, 11])).toBe(false);
    expect(q.containsQuorum([1, 1, 2, 2, 2])).toBe(false);
  });

  it('reports weights and membership', () => {
    expect(q.kind).toBe('majority');
    expect([...q.voters]).toEqual([1, 2, 3, 4, 5]);
    expect(q.participants).toEqual(q.voters);
    expect(q.weight(3)).toBe(1);
    expect(q.weight(9)).toBe(0);
    expect(q.isVoter(3)).toBe(true);
    expect(q.isVoter(9)).toBe(false);
    expect(q.describe()).toBe('majority of 5 voters {1,2,3,4,5} (quorum size 3)');
  });

  it('rejects invalid configurations with a typed error', () => {
    expect(() => new MajorityQuorum([])).toThrow(QuorumConfigError);
    expect(() => new MajorityQuorum([])).toThrow(/at least one voter/);
    expect(() => new MajorityQuorum([1, 1])).toThrow(/listed twice/);
    expect(() => new MajorityQuorum([-1])).toThrow(/non-negative integer/);
    expect(() => new MajorityQuorum([1.5])).toThrow(QuorumConfigError);
  });
});

describe('WeightedQuorum', () => {
  // total weight 10: a quorum needs weight >= 6
  const q = new WeightedQuorum(new Map([[1, 4], [2, 3], [3, 2], [4, 1], [5, 0]]));

  it('needs more than half of the total weight', () => {
    expect(q.totalWeight).toBe(10);
    expect(q.containsQuorum([1, 3])).toBe(true); // 6
    expect(q.containsQuorum([1, 4])).toBe(false); // 5 is exactly half
    expect(q.containsQuorum([1, 2, 3, 4])).toBe(true); // 10
  });

  it('exactly half is not a quorum, half + 1 is', () => {
    expect(q.containsQuorum([2, 3])).toBe(false); // 5
    expect(q.containsQuorum([2, 3, 4])).toBe(true); // 6
  });

  it('weight-0 servers are participants that never count', () => {
    expect(q.participants.has(5)).toBe(true);
    expect(q.voters.has(5)).toBe(false);
    expect(q.weight(5)).toBe(0);
    expect(q.isVoter(5)).toBe(false);
    expect(q.containsQuorum([1, 4, 5])).toBe(false);
    expect([...q.voters].sort()).toEqual([1, 2, 3, 4]);
  });

  it('one heavy server can be a quorum alone', () => {
    const heavy = new WeightedQuorum([[1, 3], [2, 1], [3, 1]]);
    expect(heavy.containsQuorum([1])).toBe(true);
    expect(heavy.containsQuorum([2, 3])).toBe(false);
  });

  it('does not double count duplicates', () => {
    expect(q.containsQuorum([1, 1, 1])).toBe(false);
  });

  it('describes itself', () => {
    expect(q.describe()).toBe('weighted {1:4,2:3,3:2,4:1,5:0} (quorum weight > 5 of 10)');
  });

  it('rejects invalid configurations', () => {
    expect(() => new WeightedQuorum([])).toThrow(/at least one participant/);
    expect(() => new WeightedQuorum([[1, 0], [2, 0]])).toThrow(/total weight is 0/);
    expect(() => new WeightedQuorum([[1, -1]])).toThrow(/weight of server 1 must be a non-negative integer/);
    expect(() => new WeightedQuorum([[1, 0.5]])).toThrow(QuorumConfigError);
    expect(() => new WeightedQuorum([[1, 1], [1, 2]])).toThrow(/listed twice/);
    expect(() => new WeightedQuorum([[1, Number.MAX_SAFE_INTEGER], [2, 2]])).toThrow(/too large/);
  });
});

describe('HierarchicalQuorum', () => {
  // The seed's example: 9 servers in 3 groups of 3, weight 1.
  const groups = new Map([[1, [1, 2, 3]], [2, [4, 5, 6]], [3, [7, 8, 9]]]);
  const q = new HierarchicalQuorum(groups, new Map([1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => [s, 1])));

  it('the seed example: 2 servers in each of 2 groups form a quorum', () => {
    expect(q.containsQuorum(new Set([1, 2, 4, 5]))).toBe(true);
    expect(q.containsQuorum([2, 3, 7, 9])).toBe(true);
  });

  it('needs a majority inside a majority of groups', () => {
    expect(q.containsQuorum([1, 2, 3])).toBe(false); // one whole group
    expect(q.containsQuorum([1, 2, 3, 4])).toBe(false); // second group has only 1 of 3
    expect(q.containsQuorum([1, 4, 7])).toBe(false); // 1 of 3 everywhere
    expect(q.containsQuorum([1, 2, 3, 4, 5, 6])).toBe(true);
    expect(q.containsQuorum([1, 4, 5, 7, 8])).toBe(true);
  });

  it('a minority of servers can be a quorum, a majority may not be', () => {
    // 4 of 9 is a quorum above; 5 of 9 spread badly is not.
    expect(q.containsQuorum([1, 2, 3, 4, 7])).toBe(false);
  });

  it('members default to weight 1', () => {
    const d = new HierarchicalQuorum(groups);
    expect(d.weight(5)).toBe(1);
    expect(d.containsQuorum([1, 2, 4, 5])).toBe(true);
  });

  it('discards zero-weight groups when counting groups, as ZooKeeper does', () => {
    // group 3 weighs 0: a quorum is a majority of groups 1 and 2, i.e. both of them
    const z = new HierarchicalQuorum(groups, new Map([[7, 0], [8, 0], [9, 0]]));
    expect(z.containsQuorum([1, 2, 4, 5])).toBe(true);
    expect(z.containsQuorum([1, 2, 3, 7, 8, 9])).toBe(false);
    expect(z.isVoter(8)).toBe(false);
    expect(z.participants.has(8)).toBe(true);
    expect(z.voters.size).toBe(6);
  });

  it('weights inside a group: more than half of the group weight', () => {
    const w = new HierarchicalQuorum(new Map([[1, [1, 2, 3]], [2, [4, 5]]]), new Map([[1, 3], [2, 1], [3, 1], [4, 1], [5, 1]]));
    // group 1 weight 5: server 1 (3) alone is > 2.5; group 2 weight 2: needs both
    expect(w.containsQuorum([1, 4, 5])).toBe(true);
    expect(w.containsQuorum([1, 4])).toBe(false);
    expect(w.containsQuorum([2, 3, 4, 5])).toBe(false);
  });

  it('weight-0 members never count', () => {
    const w = new HierarchicalQuorum(new Map([[1, [1, 2, 3]]]), new Map([[3, 0]]));
    expect(w.containsQuorum([1, 3])).toBe(false); // group weight 2 needs both 1 and 2
    expect(w.containsQuorum([1, 2])).toBe(true);
    expect(w.weight(3)).toBe(0);
  });

  it('describes itself', () => {
    expect(new HierarchicalQuorum(new Map([[2, [3, 4]], [1, [1]]]), new Map([[4, 2]])).describe()).toBe(
      'hierarchical groups {1:[1:1] 2:[3:1,4:2]} (quorum: > half the weight of > half of 2 non-zero groups)',
    );
  });

  it('rejects invalid configurations', () => {
    expect(() => new HierarchicalQuorum([])).toThrow(/at least one group/);
    expect(() => new HierarchicalQuorum([[1, [1, 2]], [2, [2, 3]]])).toThrow(/server 2 is in two groups \(1 and 2\)/);
    expect(() => new HierarchicalQuorum([[1, [1, 1]]])).toThrow(/listed twice in group 1/);
    expect(() => new HierarchicalQuorum([[1, []]])).toThrow(/group 1 is empty/);
    expect(() => new HierarchicalQuorum([[1, [1]], [1, [2]]])).toThrow(/group 1 defined twice/);
    expect(() => new HierarchicalQuorum([[1, [1, 2]]], [[3, 1]])).toThrow(/server 3 has a weight but is in no group/);
    expect(() => new HierarchicalQuorum([[1, [1, 2]]], [[1, 0], [2, 0]])).toThrow(/total weight is 0/);
    expect(() => new HierarchicalQuorum([[1, [1, 2]]], [[1, -2]])).toThrow(QuorumConfigError);
    expect(() => new HierarchicalQuorum([[1, [1, 2]]], [[1, 1], [1, 1]])).toThrow(/given twice/);
  });
});

describe('makeQuorumSystem', () => {
  it('builds each kind from a plain spec', () => {
    expect(makeQuorumSystem({ kind: 'majority', voters: [1, 2, 3] })).toBeInstanceOf(MajorityQuorum);
    expect(makeQuorumSystem({ kind: 'weighted', weights: new Map([[1, 1]]) })).toBeInstanceOf(WeightedQuorum);
    expect(makeQuorumSystem({ kind: 'hierarchical', groups: new Map([[1, [1]]]) })).toBeInstanceOf(HierarchicalQuorum);
  });
});
