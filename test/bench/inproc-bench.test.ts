/**
 * `bench inproc`: three servers and `zab bench`'s load generator in the test process for a short
 * window; the result's shape and the macrostep count (a write at 1x1 takes both followers' and the
 * leader's statecharts through their hot events). No timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { runInprocBench } from '../../src/bench/inproc-bench.js';

describe('bench inproc', () => {
  it('runs an in-process ensemble and counts CPU and macrosteps per write, and times them', async () => {
    const r = await runInprocBench({ nodes: 3, op: 'set', clients: 1, outstanding: 1, size: 100, seconds: 1, warmup: 0, countMacrosteps: true });
    expect(r).toMatchObject({ bench: 'inproc', nodes: 3, op: 'set' });
    expect(r.ops).toBeGreaterThan(0);
    expect(r.cpu_us_per_op).toBeGreaterThan(0);
    expect(r.txns_counted).toBeGreaterThanOrEqual(r.ops);
    // One write, one request in flight: every proposal and commit passes through both followers.
    expect(r.macrosteps?.['follower QUORUM_MESSAGE']).toBeGreaterThan(3);
    expect(r.macrosteps?.['leader LOG_SYNCED']).toBeGreaterThan(0);
    expect(r.macrosteps_per_txn).toBeGreaterThan(5);
    // timed too: every counted step has a time, and the effects a write needs were run and timed
    expect(Object.keys(r.macrostep_us ?? {})).toEqual(Object.keys(r.macrosteps ?? {}));
    expect(r.statechart_us_per_txn).toBeGreaterThan(0);
    expect(Object.keys(r.effect_us ?? {})).toEqual(expect.arrayContaining(['propose', 'deliver', 'append', 'send ACK']));
    expect(r.effects_us_per_txn).toBeGreaterThan(0);
  }, 60_000);
});
