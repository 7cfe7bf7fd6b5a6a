/**
 * Sanity of single simulation runs and of the seed plan: a run without faults commits what the
 * clients asked for under one leader; the counters of a faulty run add up; seeds map onto
 * combinations as `zab sim` documents.
 */
import { describe, expect, it } from 'vitest';
import { runSeed, type QuorumKind } from '../../src/sim/cluster.js';
import { combinations, comboFor, FAULT_LEVELS, QUORUM_KINDS, replayCommand, seedOptions } from '../../src/sim/sim-command.js';
import { failureReport } from './seeds-common.js';

describe('a run without faults', () => {
  const cases: [number, QuorumKind][] = [
    [3, 'majority'],
    [5, 'weighted'],
    [7, 'hierarchical'],
  ];
  for (const [nodes, quorum] of cases) {
    it(`${nodes} servers, ${quorum} quorum: commits at least the requested writes and elects exactly one leader`, async () => {
      const txns = 100;
      const options = { seed: 11, nodes, quorum, faults: 'none' as const, txns };
      const r = await runSeed(options);
      if (!r.ok) expect.fail(failureReport(r, replayCommand(options)));
      expect(r.elections).toBe(1);
      expect(r.faultsInjected).toBe(0);
      expect(r.acked).toBeGreaterThanOrEqual(txns);
      // Every acknowledged write was committed; a few more may be committed but not (yet) acknowledged.
      expect(r.committed).toBeGreaterThanOrEqual(r.acked);
      expect(r.committed - r.acked).toBeLessThanOrEqual(3 /* clients */);
      expect(r.max_recovery_ms).toBeGreaterThanOrEqual(0);
      expect(r.max_recovery_ms).toBeLessThan(1000);
      expect(r.steps).toBeGreaterThan(0);
      expect(r.virtual_ms).toBeGreaterThan(0);
      expect(r).toMatchObject({ seed: 11, nodes, quorum, faults: 'none', ok: true });
      expect(r.violation).toBeUndefined();
    });
  }
});

describe('a run with heavy faults', () => {
  it('injects faults, re-elects, recovers within the bound, and its counters add up', async () => {
    const options = { seed: 5, nodes: 5, quorum: 'majority' as const, faults: 'heavy' as const, txns: 30, minFaultPhaseMs: 1500 };
    const r = await runSeed(options);
    if (!r.ok) expect.fail(failureReport(r, replayCommand(options)));
    expect(r.faultsInjected).toBeGreaterThan(0);
    expect(r.elections).toBeGreaterThanOrEqual(1);
    expect(r.acked).toBeGreaterThanOrEqual(30);
    expect(r.committed).toBeGreaterThanOrEqual(r.acked);
    expect(r.max_recovery_ms).toBeGreaterThanOrEqual(0);
    expect(r.max_recovery_ms).toBeLessThanOrEqual(20_000);
    expect(r.virtual_ms).toBeGreaterThanOrEqual(1500);
  });
});

describe('the seed plan', () => {
  it('gives seed s combination s mod k, nodes outermost and fault levels innermost', () => {
    const combos = combinations([3, 5, 7], QUORUM_KINDS, FAULT_LEVELS);
    expect(combos).toHaveLength(27);
    expect(comboFor(0, combos)).toEqual({ nodes: 3, quorum: 'majority', faults: 'none' });
    expect(comboFor(2, combos)).toEqual({ nodes: 3, quorum: 'majority', faults: 'heavy' });
    expect(comboFor(3, combos)).toEqual({ nodes: 3, quorum: 'weighted', faults: 'none' });
    expect(comboFor(26, combos)).toEqual({ nodes: 7, quorum: 'hierarchical', faults: 'heavy' });
    expect(comboFor(27 * 1000 + 5, combos)).toEqual(comboFor(5, combos));
  });

  it('covers every combination evenly over k consecutive seeds', () => {
    const combos = combinations([3, 5, 7], QUORUM_KINDS, ['light', 'heavy']);
    const seen = new Map<string, number>();
    for (let s = 100; s < 100 + combos.length * 4; s++) {
      const c = comboFor(s, combos);
      const k = `${c.nodes}/${c.quorum}/${c.faults}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen.size).toBe(18);
    expect([...seen.values()].every((n) => n === 4)).toBe(true);
  });

  it('replays a seed from a command line that pins its combination and knobs', () => {
    const combos = combinations([3, 5, 7], QUORUM_KINDS, ['heavy']);
    const o = seedOptions(40, combos, { txns: 20, clients: 2, minFaultPhaseMs: 600 });
    expect(o).toEqual({ seed: 40, nodes: 5, quorum: 'weighted', faults: 'heavy', txns: 20, clients: 2, minFaultPhaseMs: 600 });
    expect(replayCommand(o)).toBe('zab sim --seed 40 --nodes 5 --quorum weighted --faults heavy --txns 20 --clients 2 --min-fault-phase 600');
  });
});
