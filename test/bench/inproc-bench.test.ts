/**
 * `bench inproc`: three servers and a client in the test process, a few writes; the result's shape
 * and the macrostep count (a write at 1x1 takes the follower's and the leader's statecharts through
 * their hot events). No timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { runInprocBench } from '../../src/bench/inproc-bench.js';

describe('bench inproc', () => {
  it('runs an in-process ensemble and counts CPU and macrosteps per write', async () => {
    const r = await runInprocBench({ nodes: 3, clients: 1, outstanding: 1, size: 100, warmupOps: 20, ops: 60, countMacrosteps: true });
    expect(r).toMatchObject({ bench: 'inproc', nodes: 3, ops: 60 });
    expect(r.ops_per_sec).toBeGreaterThan(0);
    expect(r.cpu_us_per_op).toBeGreaterThan(0);
    expect(r.latency_ms.p99).toBeGreaterThanOrEqual(r.latency_ms.p50);
    // One write, one request in flight: every proposal and commit passes through both followers.
    expect(r.macrosteps?.['follower QUORUM_MESSAGE']).toBeGreaterThan(3);
    expect(r.macrosteps?.['leader LOG_SYNCED']).toBeGreaterThan(0);
    expect(r.macrosteps_per_op).toBeGreaterThan(5);
  }, 60_000);
});
