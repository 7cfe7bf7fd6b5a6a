import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeQuorumSystem, type QuorumSystem } from '../../src/quorum/index.js';
import { anySpec, hierarchicalSpec, majoritySpec, subsets, weightedSpec } from './arbitraries.js';

const kinds = [
  ['majority', majoritySpec],
  ['weighted', weightedSpec],
  ['hierarchical', hierarchicalSpec],
] as const;

const intersectsInVoter = (q: QuorumSystem, a: ReadonlySet<number>, b: ReadonlySet<number>): boolean =>
  [...a].some((s) => b.has(s) && q.isVoter(s));

describe.each(kinds)('%s quorum properties', (_name, spec) => {
  it('any two quorums share a voter (random subsets, including unknown ids)', () => {
    fc.assert(
      fc.property(spec(10), fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 35 })), { minLength: 2, maxLength: 40 }), (s, sets) => {
        const q = makeQuorumSystem(s);
        const quorums = sets.map((a) => new Set(a)).filter((set) => q.containsQuorum(set));
        for (let i = 0; i < quorums.length; i++)
          for (let j = i + 1; j < quorums.length; j++) expect(intersectsInVoter(q, quorums[i]!, quorums[j]!)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('exhaustively, small n: no quorum has a quorum in its complement, and supersets stay quorums', () => {
    fc.assert(
      fc.property(spec(8), (s) => {
        const q = makeQuorumSystem(s);
        const participants = [...q.participants];
        for (const sub of subsets(participants)) {
          const set = new Set(sub);
          if (!q.containsQuorum(set)) continue;
          // two disjoint quorums would violate this: the second lies in the complement of the first
          expect(q.containsQuorum(participants.filter((p) => !set.has(p)))).toBe(false);
          for (const extra of participants) expect(q.containsQuorum(new Set([...set, extra]))).toBe(true);
        }
        // the whole ensemble is always a quorum
        expect(q.containsQuorum(participants)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('only voters matter: adding or removing non-voters never changes the answer', () => {
    fc.assert(
      fc.property(spec(9), fc.uniqueArray(fc.integer({ min: 0, max: 40 })), (s, raw) => {
        const q = makeQuorumSystem(s);
        const votersOnly = raw.filter((x) => q.isVoter(x));
        expect(q.containsQuorum(new Set(raw))).toBe(q.containsQuorum(new Set(votersOnly)));
        // observers/unknown ids are weight 0
        for (const x of raw) if (!q.participants.has(x)) expect(q.weight(x)).toBe(0);
      }),
    );
  });

  it('voters are exactly the participants with positive weight', () => {
    fc.assert(
      fc.property(spec(9), (s) => {
        const q = makeQuorumSystem(s);
        for (const p of q.participants) expect(q.voters.has(p)).toBe(q.weight(p) > 0);
        for (const v of q.voters) expect(q.participants.has(v)).toBe(true);
        expect(q.voters.size).toBeGreaterThan(0);
      }),
    );
  });

  it('arrays with duplicates give the same answer as sets', () => {
    fc.assert(
      fc.property(spec(9), fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 30 }), (s, arr) => {
        const q = makeQuorumSystem(s);
        expect(q.containsQuorum(arr)).toBe(q.containsQuorum(new Set(arr)));
      }),
    );
  });
});

describe('quorum systems agree where they coincide', () => {
  it('weighted with all weights 1 equals majority; hierarchical with one group equals weighted', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 8, maxLength: 8 }),
        (sids, ws) => {
          const maj = makeQuorumSystem({ kind: 'majority', voters: sids });
          const ones = makeQuorumSystem({ kind: 'weighted', weights: new Map(sids.map((s) => [s, 1])) });
          for (const sub of subsets(sids)) expect(ones.containsQuorum(sub)).toBe(maj.containsQuorum(sub));
          if (!ws.slice(0, sids.length).some((w) => w > 0)) return;
          const weights = new Map(sids.map((s, i) => [s, ws[i]!]));
          const flat = makeQuorumSystem({ kind: 'weighted', weights });
          const hier = makeQuorumSystem({ kind: 'hierarchical', groups: new Map([[1, sids]]), weights });
          for (const sub of subsets(sids)) expect(hier.containsQuorum(sub)).toBe(flat.containsQuorum(sub));
        },
      ),
    );
  });

  it('generators produce every kind', () => {
    const seen = new Set(fc.sample(anySpec(), 200).map((s) => s.kind));
    expect(seen).toEqual(new Set(['majority', 'weighted', 'hierarchical']));
  });
});
