/**
 * The pure parts of bench:compare (src/bench/compare.ts): its options, its scenarios, and the
 * median (min–max) tables with the zab/ZK ratios. No processes, no clocks: unit-tested in
 * test/bench/compare.test.ts.
 */
import path from 'node:path';
import type { LoadOp as ZabLoadOp } from './load.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { WRITER_PLACEMENTS, type FailoverRep, type FailoverSignal, type WriterPlacement } from './failover.js';

export type SystemName = 'zk' | 'zab';
/** The ops both load generators (JavaBench and `zab bench`) have. */
export type LoadOp = Exclude<ZabLoadOp, 'mixed'>;

export interface Scenario {
  label: string;
  op: LoadOp;
  size: number;
  clients: number;
  outstanding: number;
}

/** The throughput scenarios, in the order they run within a round (labels as the anchor's run-throughput.sh). */
export const SCENARIOS: readonly Scenario[] = [
  { label: 'set100-4x64', op: 'set', size: 100, clients: 4, outstanding: 64 },
  { label: 'set100-1x1', op: 'set', size: 100, clients: 1, outstanding: 1 },
  { label: 'set1k-4x64', op: 'set', size: 1024, clients: 4, outstanding: 64 },
  { label: 'get100-4x64', op: 'get', size: 100, clients: 4, outstanding: 64 },
  { label: 'create100-4x64', op: 'create', size: 100, clients: 4, outstanding: 64 },
];

/** `../shared/anchors/zookeeper` beside the project (npm scripts run in the project's root). */
export const DEFAULT_ANCHOR_DIR = path.resolve(process.cwd(), '../shared/anchors/zookeeper');

export interface CompareOptions {
  rounds: number;
  seconds: number;
  warmup: number;
  /** JIT warm-up load on every fresh ensemble (both systems), seconds */
  zkWarmup: number;
  only: RegExp | null;
  nodes: number[];
  tickTime: number;
  throughput: boolean;
  systems: SystemName[];
  failoverReps: number;
  failoverSignals: FailoverSignal[];
  failoverWarmup: number;
  failoverNodes: number;
  failoverBefore: number;
  failoverAfter: number;
  failoverTimeout: number;
  killWriter: WriterPlacement;
  stopWriter: WriterPlacement;
  zkSessionTimeout: number;
  zabRequestTimeout: number | null;
  zkPortBase: number;
  zkHeap: string;
  anchorDir: string;
}

function intArg(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const s = v.trim();
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got '${v}'.`);
    return Number(s);
  };
}

function listArg<T extends string>(name: string, allowed: readonly T[], map: (s: string) => string = (s) => s): (v: string) => T[] {
  return (v: string) => {
    const xs = v.split(',').map((s) => map(s.trim())).filter(Boolean);
    const bad = xs.filter((x) => !allowed.includes(x as T));
    if (xs.length === 0 || bad.length) throw new InvalidArgumentError(`${name}: expected a comma-separated list of ${allowed.join(', ')}, got '${v}'.`);
    return [...new Set(xs as T[])];
  };
}

function nodesArg(v: string): number[] {
  const xs = v.split(',').map((s) => s.trim());
  const ns = xs.map(Number);
  if (xs.length === 0 || ns.some((n, i) => !/^\d+$/.test(xs[i]!) || n < 1 || n > 9)) throw new InvalidArgumentError(`--nodes: expected a comma-separated list of ensemble sizes from 1 to 9, got '${v}'.`);
  return [...new Set(ns)].sort((a, b) => a - b);
}

function regexArg(v: string): RegExp {
  try {
    return new RegExp(v);
  } catch (e) {
    throw new InvalidArgumentError(`--only: not a regular expression: ${(e as Error).message}`);
  }
}

export function compareCommand(): Command {
  return new Command('bench:compare')
    .description(
      'ZooKeeper 3.8 (the anchor: ensemble.sh + JavaBench) against zab (zab ensemble + zab bench), same parameters, back to back: ' +
        'rounds alternate ZK, zab, ZK, zab... each on a fresh ensemble with the same JIT warm-up; a median (min–max) table with zab/ZK ratios, ' +
        'then leader failover (SIGKILL and SIGSTOP under a steady writer) for both; the last stdout line is one JSON object.',
    )
    .addOption(new Option('--rounds <n>', 'rounds of every scenario per system (alternating ZK, zab)').argParser(intArg('--rounds', 1, 100)).default(3))
    .addOption(new Option('--seconds <s>', 'measured window of each run').argParser(intArg('--seconds', 1, 3600)).default(10))
    .addOption(new Option('--warmup <s>', 'load before each measured window (not counted)').argParser(intArg('--warmup', 0, 3600)).default(2))
    .addOption(
      new Option('--zk-warmup <s>', 'JIT warm-up load on every fresh ensemble, both systems alike (set 4x64 half, get 4x64 a quarter, set 1x1 a quarter; the anchor uses 30)')
        .argParser(intArg('--zk-warmup', 0, 3600))
        .default(15),
    )
    .addOption(new Option('--only <regex>', `throughput scenarios to run (labels: ${SCENARIOS.map((s) => s.label).join(', ')})`).argParser(regexArg))
    .addOption(new Option('--nodes <list>', 'ensemble sizes for the throughput runs, e.g. 3,5,7 (scaling: the loss from the smallest to the largest)').argParser(nodesArg).default([3], '3'))
    .addOption(new Option('--tick-time <ms>', 'tickTime of both systems (initLimit 10, syncLimit 5 for both)').argParser(intArg('--tick-time', 10, 60_000)).default(2000))
    .option('--no-throughput', 'skip the throughput scenarios')
    .addOption(new Option('--systems <list>', 'which systems to run: zk,zab').argParser(listArg<SystemName>('--systems', ['zk', 'zab'], (s) => s.toLowerCase())).default(['zk', 'zab'], 'zk,zab'))
    .addOption(new Option('--failover-reps <n>', 'failover repetitions per signal and system (each on a fresh ensemble); 0 skips failover').argParser(intArg('--failover-reps', 0, 100)).default(3))
    .addOption(
      new Option('--failover-signals <list>', 'KILL (SIGKILL the leader), STOP (SIGSTOP it: frozen, sockets open; SIGCONT afterwards)')
        .argParser(listArg<FailoverSignal>('--failover-signals', ['KILL', 'STOP'], (s) => s.toUpperCase().replace(/^SIG/, '')))
        .default(['KILL', 'STOP'], 'KILL,STOP'),
    )
    .addOption(new Option('--failover-warmup <s>', 'warm-up load before each failover repetition: set 4x16 for this long, then set 1x1 for 2 s (anchor: 10)').argParser(intArg('--failover-warmup', 0, 3600)).default(10))
    .addOption(new Option('--failover-nodes <n>', 'ensemble size for failover').argParser(intArg('--failover-nodes', 2, 9)).default(3))
    .addOption(new Option('--failover-before <s>', 'seconds of writing before the signal').argParser(intArg('--failover-before', 1, 600)).default(3))
    .addOption(new Option('--failover-after <s>', 'seconds of writing after writes resumed').argParser(intArg('--failover-after', 0, 600)).default(2))
    .addOption(new Option('--failover-timeout <s>', 'give up waiting for writes to resume after this long').argParser(intArg('--failover-timeout', 5, 3600)).default(60))
    .addOption(
      new Option('--kill-writer <who>', 'servers the writer knows for SIGKILL: all (random order; the anchor), followers, or leader (all, the leader first: the writer starts on it)')
        .choices(WRITER_PLACEMENTS)
        .default('all'),
    )
    .addOption(
      new Option('--stop-writer <who>', 'servers the writer knows for SIGSTOP: followers (the anchor), all, or leader (the writer starts on the frozen leader: tests the client\'s own failover)')
        .choices(WRITER_PLACEMENTS)
        .default('followers'),
    )
    .addOption(new Option('--zk-session-timeout <ms>', 'session timeout the ZooKeeper failover writer asks for (negotiated into [2, 20] x tickTime)').argParser(intArg('--zk-session-timeout', 100, 600_000)).default(30_000))
    .addOption(new Option('--zab-request-timeout <ms>', "requestTimeoutMs of zab's failover writer (default: the client's own, 15000)").argParser(intArg('--zab-request-timeout', 10, 600_000)))
    .addOption(new Option('--zk-port-base <port>', 'ZooKeeper ports: client base+i, quorum base+700+i, election base+1700+i').argParser(intArg('--zk-port-base', 1024, 60_000)).default(12180))
    .addOption(new Option('--zk-heap <size>', 'heap of each ZooKeeper JVM (-Xms/-Xmx)').default('512m'))
    .addOption(new Option('--anchor-dir <dir>', 'the ZooKeeper anchor (ensemble.sh, bench/JavaBench.java); never modified').default(DEFAULT_ANCHOR_DIR))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) });
}

/** Parses bench:compare's arguments (without node and script). Throws CommanderError on bad input or --help. */
export function parseCompareArgs(argv: readonly string[]): CompareOptions {
  const cmd = compareCommand();
  cmd.parse([...argv], { from: 'user' });
  const o = cmd.opts<Omit<CompareOptions, 'only' | 'zabRequestTimeout'> & { only?: RegExp; zabRequestTimeout?: number }>();
  return { ...o, only: o.only ?? null, zabRequestTimeout: o.zabRequestTimeout ?? null };
}

export { CommanderError };

export function selectedScenarios(only: RegExp | null): Scenario[] {
  return SCENARIOS.filter((s) => only === null || only.test(s.label));
}

/* ---------------- statistics and formatting ---------------- */

export interface Stat {
  n: number;
  median: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), min and max of the finite values; null if none. */
export function stat(values: readonly (number | null | undefined)[]): Stat | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const m = xs.length >> 1;
  const median = xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
  return { n: xs.length, median, min: xs[0]!, max: xs.at(-1)! };
}

/** A number with `digits` decimals, or as an integer when digits is 0. */
export function fmtNum(v: number, digits: number): string {
  return digits === 0 ? String(Math.round(v)) : v.toFixed(digits);
}

/** "median (min–max)"; only the median when there is one value or all are equal; "–" for none. */
export function fmtStat(s: Stat | null, digits = 0): string {
  if (!s) return '–';
  const med = fmtNum(s.median, digits);
  if (s.n === 1) return med;
  const lo = fmtNum(s.min, digits);
  const hi = fmtNum(s.max, digits);
  return lo === hi ? med : `${med} (${lo}–${hi})`;
}

/** zab / ZK of the medians, e.g. "0.53×"; "–" when either is missing or ZK's is 0. */
export function fmtRatio(zab: Stat | null, zk: Stat | null): string {
  if (!zab || !zk || zk.median === 0) return '–';
  const r = zab.median / zk.median;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Change from a to b in percent, e.g. "-12 %". */
export function fmtChange(from: Stat | null, to: Stat | null): string {
  if (!from || !to || from.median === 0) return '–';
  const p = ((to.median - from.median) / from.median) * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(0)} %`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = header.map((_, i) => i > 0);
  return [
    `| ${header.join(' | ')} |`,
    `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** One measured throughput run of either system, normalised. */
export interface ThroughputRun {
  system: SystemName;
  round: number;
  nodes: number;
  scenario: string;
  placement: string;
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  errors: number;
  /** sum over the server processes, cores */
  serversCpu: number | null;
  clientCpu: number | null;
  systemBusy: number | null;
  drainMs: number | null;
}

export const SYSTEM_TITLE: Record<SystemName, string> = { zk: 'ZK', zab: 'zab' };

function pick(runs: readonly ThroughputRun[], system: SystemName, nodes: number, scenario: string): ThroughputRun[] {
  return runs.filter((r) => r.system === system && r.nodes === nodes && r.scenario === scenario);
}

export function throughputTable(runs: readonly ThroughputRun[], scenarios: readonly string[], nodes: readonly number[]): string {
  const rows: string[][] = [];
  for (const n of nodes) {
    for (const sc of scenarios) {
      const zk = pick(runs, 'zk', n, sc);
      const zab = pick(runs, 'zab', n, sc);
      if (zk.length === 0 && zab.length === 0) continue;
      const s = (rs: ThroughputRun[], f: (r: ThroughputRun) => number | null): Stat | null => stat(rs.map(f));
      rows.push([
        sc,
        String(n),
        zk[0]?.placement ?? zab[0]?.placement ?? '?',
        fmtStat(s(zk, (r) => r.opsPerSec)),
        fmtStat(s(zab, (r) => r.opsPerSec)),
        fmtRatio(s(zab, (r) => r.opsPerSec), s(zk, (r) => r.opsPerSec)),
        fmtStat(s(zk, (r) => r.p50Ms), 2),
        fmtStat(s(zab, (r) => r.p50Ms), 2),
        fmtStat(s(zk, (r) => r.p99Ms), 1),
        fmtStat(s(zab, (r) => r.p99Ms), 1),
        fmtStat(s(zk, (r) => r.serversCpu), 2),
        fmtStat(s(zab, (r) => r.serversCpu), 2),
        String(zk.reduce((a, r) => a + r.errors, 0) + zab.reduce((a, r) => a + r.errors, 0)),
      ]);
    }
  }
  return markdownTable(
    ['scenario', 'nodes', 'placement', 'ZK ops/s', 'zab ops/s', 'zab/ZK', 'ZK p50 ms', 'zab p50 ms', 'ZK p99 ms', 'zab p99 ms', 'ZK servers CPU', 'zab servers CPU', 'errors'],
    rows,
  );
}

/** ops/s per ensemble size and the change from the smallest to the largest, per scenario and system. */
export function scalingTable(runs: readonly ThroughputRun[], scenarios: readonly string[], nodes: readonly number[]): string {
  const lo = nodes[0]!;
  const hi = nodes.at(-1)!;
  const rows: string[][] = [];
  for (const sc of scenarios) {
    const row = [sc];
    for (const sys of ['zk', 'zab'] as const) {
      for (const n of nodes) row.push(fmtStat(stat(pick(runs, sys, n, sc).map((r) => r.opsPerSec))));
      row.push(fmtChange(stat(pick(runs, sys, lo, sc).map((r) => r.opsPerSec)), stat(pick(runs, sys, hi, sc).map((r) => r.opsPerSec))));
    }
    rows.push(row);
  }
  const head = ['scenario'];
  for (const sys of ['ZK', 'zab']) {
    for (const n of nodes) head.push(`${sys} ${n} nodes`);
    head.push(`${sys} ${lo}→${hi}`);
  }
  return markdownTable(head, rows);
}

export function failoverTable(reps: readonly FailoverRep[], tickTime: number): string {
  const rows: string[][] = [];
  for (const sig of ['KILL', 'STOP'] as const) {
    const zk = reps.filter((r) => r.signal === sig && r.system === 'zk');
    const zab = reps.filter((r) => r.signal === sig && r.system === 'zab');
    for (const [sys, rs] of [
      ['zk', zk],
      ['zab', zab],
    ] as const) {
      if (rs.length === 0) continue;
      const failed = rs.filter((r) => r.gapMs === null).length;
      rows.push([
        `SIG${sig}, tickTime ${tickTime}`,
        SYSTEM_TITLE[sys],
        String(rs.length) + (failed ? ` (${failed} did not resume)` : ''),
        fmtStat(stat(rs.map((r) => r.gapMs))),
        sys === 'zab' ? fmtRatio(stat(zab.map((r) => r.gapMs)), stat(zk.map((r) => r.gapMs))) : '',
        fmtStat(stat(rs.map((r) => r.signalToFirstOkMs))),
        fmtStat(stat(rs.map((r) => r.signalToNewLeaderMs))),
        rs.map((r) => r.writerOn).join(' '),
        [...new Set(rs.map((r) => r.writer))].join(','),
      ]);
    }
  }
  return markdownTable(
    ['scenario', 'system', 'n', 'gap ms (last ok before → first ok after)', 'zab/ZK', 'signal → first ok ms', 'signal → new leader serving ms', 'writer was on', 'writer knows'],
    rows,
  );
}
