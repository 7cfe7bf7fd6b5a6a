/**
 * bench:compare's pure parts: argument parsing, median (min–max) statistics, ratios, the tables and
 * the failover gap. Nothing here starts a process or depends on timing.
 */
import { describe, expect, it } from 'vitest';
import {
  CommanderError,
  failoverTable,
  fmtChange,
  fmtRatio,
  fmtStat,
  parseCompareArgs,
  scalingTable,
  selectedScenarios,
  stat,
  throughputTable,
  type ThroughputRun,
} from '../../src/bench/compare-report.js';
import { outageGap, type FailoverRep } from '../../src/bench/failover.js';

describe('parseCompareArgs', () => {
  it('has the documented defaults', () => {
    const o = parseCompareArgs([]);
    expect(o).toMatchObject({
      rounds: 3,
      seconds: 10,
      warmup: 2,
      zkWarmup: 15,
      only: null,
      nodes: [3],
      tickTime: 2000,
      throughput: true,
      systems: ['zk', 'zab'],
      failoverReps: 3,
      failoverSignals: ['KILL', 'STOP'],
      killWriter: 'all',
      stopWriter: 'followers',
      zabRequestTimeout: null,
      zkSessionTimeout: 30_000,
    });
  });

  it('parses lists, regexes and numbers', () => {
    const o = parseCompareArgs([
      '--rounds', '1', '--seconds', '3', '--warmup', '1', '--zk-warmup', '3', '--only', 'set100-4x64', '--failover-reps', '1',
      '--nodes', '7,3,5,3', '--failover-signals', 'sigstop', '--systems', 'ZAB', '--tick-time', '200', '--no-throughput',
      '--stop-writer', 'leader', '--zab-request-timeout', '3000',
    ]);
    expect(o.rounds).toBe(1);
    expect(o.nodes).toEqual([3, 5, 7]);
    expect(o.failoverSignals).toEqual(['STOP']);
    expect(o.systems).toEqual(['zab']);
    expect(o.tickTime).toBe(200);
    expect(o.throughput).toBe(false);
    expect(o.stopWriter).toBe('leader');
    expect(o.zabRequestTimeout).toBe(3000);
    expect(selectedScenarios(o.only).map((s) => s.label)).toEqual(['set100-4x64']);
  });

  it('rejects bad input with a CommanderError', () => {
    for (const bad of [['--rounds', '0'], ['--nodes', '3,x'], ['--failover-signals', 'HUP'], ['--systems', 'etcd'], ['--only', '('], ['--bogus'], ['--stop-writer', 'nobody']]) {
      expect(() => parseCompareArgs(bad), bad.join(' ')).toThrow(CommanderError);
    }
  });

  it('selects scenarios by regex', () => {
    expect(selectedScenarios(null)).toHaveLength(5);
    expect(selectedScenarios(/^set/).map((s) => s.label)).toEqual(['set100-4x64', 'set100-1x1', 'set1k-4x64']);
    expect(selectedScenarios(/4x64/).every((s) => s.clients === 4 && s.outstanding === 64)).toBe(true);
  });
});

describe('statistics and formatting', () => {
  it('takes median, min and max of the finite values', () => {
    expect(stat([3, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 });
    expect(stat([4, 1, null, 2, 3, NaN])).toEqual({ n: 4, median: 2.5, min: 1, max: 4 });
    expect(stat([null, undefined])).toBeNull();
  });

  it('formats median (min–max)', () => {
    expect(fmtStat(stat([11658, 9655, 12131]))).toBe('11658 (9655–12131)');
    expect(fmtStat(stat([0.341, 0.33, 0.39]), 2)).toBe('0.34 (0.33–0.39)');
    expect(fmtStat(stat([5]))).toBe('5');
    expect(fmtStat(stat([5, 5]))).toBe('5');
    expect(fmtStat(null)).toBe('–');
  });

  it('formats zab/ZK ratios and changes', () => {
    expect(fmtRatio(stat([5000]), stat([10000]))).toBe('0.50×');
    expect(fmtRatio(stat([25000]), stat([2000]))).toBe('12.5×');
    expect(fmtRatio(stat([1]), stat([0]))).toBe('–');
    expect(fmtRatio(null, stat([1]))).toBe('–');
    expect(fmtChange(stat([10000]), stat([8800]))).toBe('-12 %');
    expect(fmtChange(stat([100]), stat([105]))).toBe('+5 %');
  });
});

const run = (system: 'zk' | 'zab', nodes: number, scenario: string, opsPerSec: number, round = 1): ThroughputRun => ({
  system,
  round,
  nodes,
  scenario,
  placement: 'FFLF',
  opsPerSec,
  p50Ms: 1.5,
  p99Ms: 9,
  maxMs: 20,
  errors: 0,
  serversCpu: 1.5,
  clientCpu: 0.3,
  systemBusy: 1.9,
  drainMs: 5,
});

describe('tables', () => {
  it('puts both systems and the ratio on one row per scenario and size', () => {
    const runs = [run('zk', 3, 'set100-4x64', 20000), run('zk', 3, 'set100-4x64', 22000, 2), run('zab', 3, 'set100-4x64', 10000), run('zab', 3, 'set100-4x64', 12000, 2)];
    const t = throughputTable(runs, ['set100-4x64', 'get100-4x64'], [3]);
    const lines = t.split('\n');
    expect(lines).toHaveLength(3); // header, rule, one row (no runs of get100-4x64)
    expect(lines[0]).toContain('zab/ZK');
    expect(lines[2]).toContain('| set100-4x64 | 3 | FFLF | 21000 (20000–22000) | 11000 (10000–12000) | 0.52× |');
  });

  it('shows the loss from the smallest to the largest ensemble', () => {
    const runs = [run('zk', 3, 'set100-4x64', 20000), run('zk', 7, 'set100-4x64', 15000), run('zab', 3, 'set100-4x64', 10000), run('zab', 7, 'set100-4x64', 9000)];
    const t = scalingTable(runs, ['set100-4x64'], [3, 7]);
    expect(t.split('\n')[0]).toBe('| scenario | ZK 3 nodes | ZK 7 nodes | ZK 3→7 | zab 3 nodes | zab 7 nodes | zab 3→7 |');
    expect(t.split('\n')[2]).toBe('| set100-4x64 | 20000 | 15000 | -25 % | 10000 | 9000 | -10 % |');
  });

  it('summarises failover repetitions per signal and system', () => {
    const rep = (system: string, signal: 'KILL' | 'STOP', gapMs: number | null): FailoverRep => ({
      system,
      signal,
      writer: 'all',
      killedLeader: 1,
      writerOn: 'F',
      gapMs,
      lastBeforeMs: gapMs === null ? null : -1,
      firstAfterMs: gapMs,
      signalToFirstOkMs: gapMs,
      signalToNewLeaderMs: 400,
      errorsAfterSignal: 0,
      errorKinds: {},
      sessionTimeoutMs: null,
      serverAtEnd: '?',
    });
    const t = failoverTable([rep('zk', 'KILL', 600), rep('zk', 'KILL', 800), rep('zab', 'KILL', 300), rep('zab', 'KILL', null)], 2000);
    const lines = t.split('\n');
    expect(lines[2]).toContain('| SIGKILL, tickTime 2000 | ZK | 2 | 700 (600–800) |');
    expect(lines[3]).toContain('| SIGKILL, tickTime 2000 | zab | 2 (1 did not resume) | 300 | 0.43× |');
  });
});

describe('outageGap', () => {
  it('is the largest gap between successive writes from 1 s before the signal on', () => {
    expect(outageGap([-3000, -2000, -900, -600, -300, -5, 640, 642, 650])).toEqual({ gapMs: 645, lastBeforeMs: -5, firstAfterMs: 640 });
  });

  it('counts a write acknowledged just after the signal as before the outage', () => {
    expect(outageGap([-10, -1, 0.5, 700.25, 701])).toEqual({ gapMs: 699.8, lastBeforeMs: 0.5, firstAfterMs: 700.3 });
  });

  it('is null when writes did not resume', () => {
    expect(outageGap([-10, -1, 20])).toBeNull();
    expect(outageGap([])).toBeNull();
  });
});
