/**
 * The pure helpers of `bench cost` (src/bench/cost-bench.ts): reading pino log lines, telling which
 * sync the leader sent, and the arithmetic and formatting of the result. No ensemble, no timing.
 */
import { describe, expect, it } from 'vitest';
import {
  countElections,
  defaultSnapCount,
  formatCostBench,
  loadPaths,
  parseLogLines,
  perZnodeBytes,
  syncModeFor,
  zxidGte,
  type CostBenchResult,
  type LoadStats,
  type MemorySample,
  type RejoinResult,
} from '../../src/bench/cost-bench.js';

const line = (o: Record<string, unknown>): string => JSON.stringify({ level: 30, name: 'zab', ...o });

describe('parseLogLines', () => {
  it('keeps pino JSON lines with a time and a msg, optionally of one pid, and skips anything else', () => {
    const text = [
      line({ time: 1, pid: 10, msg: 'recovered', unapplied: 5 }),
      'zab: server 1 running (pid 10, clients on 127.0.0.1:2181)',
      '{"truncated": ',
      line({ time: 2, pid: 11, msg: 'role', phase: 'broadcast' }),
      line({ pid: 10, msg: 'no time' }),
      '',
    ].join('\n');
    expect(parseLogLines(text).map((l) => l.msg)).toEqual(['recovered', 'role']);
    const own = parseLogLines(text, 10);
    expect(own).toHaveLength(1);
    expect(own[0]!.unapplied).toBe(5);
  });
});

describe('syncModeFor', () => {
  const lines = parseLogLines(
    [
      line({ time: 100, msg: 'sync learner 1 by DIFF', sid: 1 }),
      line({ time: 200, msg: 'sync learner 2 by DIFF', sid: 2 }),
      // the runtime's fallback comes just before the statechart's own line for the same attempt
      line({ time: 300, msg: 'log purged below the sync point; sending SNAP', peer: 1, plan: 'DIFF' }),
      line({ time: 300, msg: 'sync learner 1 by DIFF', sid: 1 }),
      line({ time: 400, msg: 'sync learner 2 by TRUNC', sid: 2 }),
    ].join('\n'),
  );

  it('names the plan of the last attempt since a moment, with the SNAP fallback', () => {
    expect(syncModeFor(lines, 1, 250)).toEqual({ mode: 'SNAP (log purged; planned DIFF)', attempts: 1, firstAt: 300 });
    expect(syncModeFor(lines, 2, 150)).toEqual({ mode: 'TRUNC', attempts: 2, firstAt: 200 });
  });

  it('does not carry a fallback over to another learner or an earlier attempt', () => {
    expect(syncModeFor(lines, 1, 0)).toEqual({ mode: 'SNAP (log purged; planned DIFF)', attempts: 2, firstAt: 100 });
    expect(syncModeFor(lines, 2, 250)).toEqual({ mode: 'TRUNC', attempts: 1, firstAt: 400 });
    expect(syncModeFor(lines, 3)).toEqual({ mode: '?', attempts: 0, firstAt: null });
  });
});

describe('countElections', () => {
  it('counts the epochs established in a window', () => {
    const lines = parseLogLines(
      [
        line({ time: 10, msg: 'established epoch 1', committed: '0x0' }),
        line({ time: 20, msg: 'leader of epoch 1 steps down: synced learners no longer form a quorum' }),
        line({ time: 30, msg: 'established epoch 2', committed: '0x100000005' }),
        line({ time: 40, msg: 'established epoch 3', committed: '0x200000001' }),
      ].join('\n'),
    );
    expect(countElections(lines, 15, 40)).toBe(2);
    expect(countElections(lines, 0, 5)).toBe(0);
  });
});

describe('small helpers', () => {
  it('compares formatted zxids numerically', () => {
    expect(zxidGte('0x100000010', '0x10000000f')).toBe(true);
    expect(zxidGte('0x10000000f', '0x10000000f')).toBe(true);
    expect(zxidGte('0xf', '0x100000000')).toBe(false);
  });

  it('names load paths from an index', () => {
    expect(loadPaths('/m', 98, 3)).toEqual(['/m/n98', '/m/n99', '/m/n100']);
  });

  it('picks a snapCount that gives at least five snapshots, at most 100,000', () => {
    expect(defaultSnapCount(20_000)).toBe(4_000);
    expect(defaultSnapCount(1_000_000)).toBe(100_000);
    expect(defaultSnapCount(3)).toBe(2);
  });

  it('divides memory by znodes, in bytes', () => {
    const s = (rssMB: number, heapUsedMB: number): MemorySample => ({
      serverId: 1,
      role: 'leading',
      pid: 1,
      znodes: 0,
      rssMB,
      heapUsedMB,
      heapTotalMB: 0,
      externalMB: 0,
      peakRssMB: null,
    });
    expect(perZnodeBytes(s(100, 20), s(200, 70), 1024 * 1024)).toEqual({ rssBytes: 200, rssDeltaBytes: 100, heapUsedDeltaBytes: 50 });
  });
});

describe('formatCostBench', () => {
  const load: LoadStats = {
    what: 'txn load',
    znodes: 1000,
    txns: 1000,
    seconds: 1,
    znodesPerSec: 1000,
    txnsPerSec: 1000,
    errorsRetried: 0,
    errorKinds: {},
    clientCores: 0.1,
    serverCores: [{ serverId: 3, role: 'leading', cores: 0.5 }],
    serverCpuUsPerZnode: 500,
    boundBy: 'server',
  };
  const rejoin = (kind: RejoinResult['kind'], mode: string): RejoinResult => ({
    kind,
    serverId: 1,
    mode,
    syncAttempts: 1,
    txns: 1000,
    snapshotZxid: null,
    snapshotMB: null,
    logTailTxns: 10,
    processUpMs: 100,
    openStorageMs: 5,
    snapshotReadMs: 0,
    snapshotRestoreMs: 0,
    logReadMs: 1,
    recoveredAtMs: 120,
    clientPortAtMs: 130,
    syncStartAtMs: 200,
    broadcastAtMs: 300,
    caughtUpAtMs: 310,
    readOkAtMs: 320,
    stopMs: 50,
    rssMB: 100,
    peakRssMB: 110,
    elections: 0,
  });
  const result: CostBenchResult = {
    bench: 'cost',
    nodes: 3,
    tickTime: 500,
    forceSync: true,
    size: 100,
    node: 'v20',
    cores: 2,
    loadavg: [1, 2, 3],
    memory: null,
    diff: { ensemble: 'diff', snapCount: 100_000_000, txns: 1000, load, electionsDuringLoad: 0, leaderSnapshotsTaken: 0, leaderMemory: null, catchUp: rejoin('catch-up', 'DIFF'), restart: rejoin('restart', 'DIFF') },
    snap: null,
    failures: [],
  };

  it('prints one row per catch-up and restart, and no memory table when the phase was skipped', () => {
    const text = formatCostBench(result);
    expect(text).not.toContain('Memory:');
    expect(text).toContain('| catch-up after missing 1,000 txns (DIFF ensemble) | 1 | DIFF | 0 |');
    expect(text).toContain('| restart (b): whole log, no snapshot | 1 | DIFF | 0 |');
    expect(text).toContain('**0.31**');
    expect(text).not.toContain('FAILED');
  });

  it('reports a catch-up that did not finish and a phase that failed', () => {
    const failed: RejoinResult = { ...rejoin('catch-up', 'SNAP'), caughtUpAtMs: null, readOkAtMs: null, error: 'not caught up within 600000 ms' };
    const text = formatCostBench({ ...result, diff: { ...result.diff!, catchUp: failed }, failures: [{ phase: 'snap', error: 'boom' }] });
    expect(text).toContain('**-**');
    expect(text).toContain('FAILED catch-up of server 1 (diff ensemble): not caught up within 600000 ms');
    expect(text).toContain('FAILED phase snap: boom');
  });
});
