/**
 * `zab sim`: run the deterministic simulator over many seeds (or one), spread over node counts,
 * quorum systems and fault levels; progress on stderr, one JSON summary as the last stdout line; on
 * a violation, the failing seed is re-run with tracing on and its trace written as JSONL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { FaultLevel, QuorumKind, SimResult } from '../sim/cluster.js';
import {
  combinations,
  describeCombo,
  FAULT_LEVELS,
  QUORUM_KINDS,
  comboFor,
  runPlan,
  sameViolation,
  seedOptions,
  summarize,
  traceFileFor,
  traceSeedToFile,
  WorkerError,
  type FailingSeed,
  type SimPlan,
  type TraceOutcome,
} from '../sim/sim-command.js';
import { CliError, EXIT } from './errors.js';
import type { CliIo } from './io.js';
import type { CliContext } from './program.js';

export const MIN_NODES = 3;
export const MAX_NODES = 15;
export const DEFAULT_TRACE = './zab-sim-seed-{seed}.trace.jsonl';

// ------------------------------------------------------------------ argument parsers

function intArg(what: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const s = value.trim();
    if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`${what} must be a whole number, got '${value}'.`);
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} must be between ${min} and ${max === Number.MAX_SAFE_INTEGER ? '2^53-1' : max}, got ${s}.`);
    }
    return n;
  };
}

/** "5", "3,5,7", "3..9", "3,5..7": sorted, without duplicates. */
export function parseNodes(value: string): number[] {
  const out = new Set<number>();
  const one = intArg('a node count', MIN_NODES, MAX_NODES);
  for (const part of value.split(',').map((p) => p.trim())) {
    if (part === '') throw new InvalidArgumentError(`empty item in '${value}'; use e.g. 5, 3,5,7 or 3..9.`);
    const m = /^(\d+)\s*\.\.\s*(\d+)$/.exec(part);
    if (m) {
      const lo = one(m[1]!);
      const hi = one(m[2]!);
      if (lo > hi) throw new InvalidArgumentError(`range ${part} is empty; write the smaller count first (e.g. 3..9).`);
      for (let n = lo; n <= hi; n++) out.add(n);
    } else {
      out.add(one(part));
    }
  }
  return [...out].sort((a, b) => a - b);
}

function parseChoices<T extends string>(what: string, all: readonly T[], allMeans: readonly T[]): (value: string) => T[] {
  return (value) => {
    const out = new Set<T>();
    for (const part of value.split(',').map((p) => p.trim().toLowerCase())) {
      if (part === 'all') {
        for (const c of allMeans) out.add(c);
      } else if ((all as readonly string[]).includes(part)) {
        out.add(part as T);
      } else {
        throw new InvalidArgumentError(`unknown ${what} '${part}'; use one or more of ${all.join(', ')} (comma-separated) or all.`);
      }
    }
    // Keep the canonical order so that the same set in any spelling gives the same combinations.
    return all.filter((c) => out.has(c));
  };
}

export const parseQuorums = parseChoices<QuorumKind>('quorum system', QUORUM_KINDS, QUORUM_KINDS);
export const parseFaults = parseChoices<FaultLevel>('fault level', FAULT_LEVELS, FAULT_LEVELS);

// ------------------------------------------------------------------ options

export interface SimCliOptions {
  seeds: number;
  seed?: number;
  from: number;
  nodes: number[];
  quorum: QuorumKind[];
  faults: FaultLevel[];
  txns: number;
  clients?: number;
  minFaultPhase?: number;
  maxFaultPhase?: number;
  recoveryBound?: number;
  wire: boolean;
  trace?: string;
  maxTraces: number;
  jobs: number;
  quiet?: boolean;
  progressInterval: number;
}

export function registerSim(program: Command, ctx: CliContext): void {
  program
    .command('sim')
    .summary('run the deterministic simulator over many seeds, checking every invariant')
    .description(
      'Run the deterministic simulator: N servers (the real runtime and statecharts) over a simulated network and disks, ' +
        'clients writing, faults injected from the seed, every invariant checked. Seed s runs combination (s mod k) of the ' +
        'k = nodes x quorum x faults combinations, so a seed number plus the same flags replays the same run.',
    )
    .addOption(new Option('--seeds <n>', 'how many seeds to run').argParser(intArg('--seeds', 1)).default(100))
    .addOption(new Option('--seed <s>', 'run this one seed only').argParser(intArg('--seed', 0)).conflicts(['seeds', 'from']))
    .addOption(new Option('--from <s0>', 'first seed of the range (seeds s0 .. s0+n-1)').argParser(intArg('--from', 0)).default(1))
    .addOption(new Option('--nodes <list>', `server counts (${MIN_NODES}..${MAX_NODES}): 5, 3,5,7 or 3..9`).argParser(parseNodes).default([3, 5, 7], '3,5,7'))
    .addOption(
      new Option('--quorum <list>', `quorum systems: ${QUORUM_KINDS.join(', ')}, comma-separated, or all`)
        .argParser(parseQuorums)
        .default([...QUORUM_KINDS], 'all'),
    )
    .addOption(
      new Option('--faults <list>', `fault levels: ${FAULT_LEVELS.join(', ')}, comma-separated, or all`)
        .argParser(parseFaults)
        .default([...FAULT_LEVELS], 'all'),
    )
    .addOption(new Option('--txns <n>', 'acknowledged writes to reach before healing, per seed').argParser(intArg('--txns', 1)).default(50))
    .addOption(new Option('--clients <n>', 'concurrent clients per seed (default 3)').argParser(intArg('--clients', 1, 1000)))
    .addOption(new Option('--min-fault-phase <ms>', 'minimum virtual length of the fault phase (default 2000 light, 3000 heavy)').argParser(intArg('--min-fault-phase', 0)))
    .addOption(new Option('--max-fault-phase <ms>', 'give up reaching --txns after this virtual time (default 30000)').argParser(intArg('--max-fault-phase', 1)))
    .addOption(new Option('--recovery-bound <ms>', 'virtual time after healing within which the cluster must recover (default 20000)').argParser(intArg('--recovery-bound', 1)))
    .addOption(new Option('--no-wire', 'pass messages as objects instead of encoding them with the real codec'))
    .addOption(
      new Option('--trace <file>', `where to write a failing seed's trace (JSONL; {seed} is replaced by the seed; default ${DEFAULT_TRACE}). With --seed, the trace is always written`),
    )
    .addOption(new Option('--max-traces <n>', 'trace at most this many failing seeds (each is re-run with tracing on)').argParser(intArg('--max-traces', 0)).default(3))
    .addOption(new Option('--jobs <j>', 'worker processes to run seeds in; results do not depend on it').argParser(intArg('--jobs', 1, 256)).default(1))
    .addOption(new Option('--progress-interval <s>', 'seconds between progress lines on stderr').argParser(intArg('--progress-interval', 1)).default(5))
    .option('-q, --quiet', 'no progress on stderr (violations are still reported)')
    .addHelpText(
      'after',
      `
Output:
  stderr  progress (seeds done/total, violations so far, seeds per minute), and each violation:
          seed, configuration, invariant, step, virtual time, detail, a command that replays it
  stdout  last line: one JSON object: seeds, violations, committed, acked, elections, faults,
          max_recovery_ms, max_recovery_seed, virtual_ms, steps, wall_s, seeds_per_min,
          txns_per_wall_s, jobs, combinations, failing [{seed, invariant, step, time, ..., trace}]

Exit codes: 0 every seed passed, 1 an invariant was violated, 2 bad options, 3 could not run
(e.g. the trace file cannot be written, a worker process died).

Examples:
  zab sim --seeds 500 --nodes 3,5,7 --quorum all --faults heavy --jobs 2
  zab sim --seed 42 --nodes 5 --quorum weighted --faults heavy --trace seed42.jsonl
  zab sim --seeds 100 --from 1000 --nodes 3..9 --faults light,heavy --txns 20`,
    )
    .action(async (opts: SimCliOptions) => {
      ctx.exitCode = await simAction(opts, ctx.io);
    });
}

// ------------------------------------------------------------------ progress

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Progress on stderr: a line per seed when there are few, otherwise one every few seconds. */
class Progress {
  private done = 0;
  private violations = 0;
  private lastLine = 0;
  private readonly t0 = performance.now();
  private readonly perSeed: boolean;

  constructor(
    private readonly io: CliIo,
    private readonly total: number,
    private readonly quiet: boolean,
    private readonly intervalMs: number,
  ) {
    this.perSeed = total <= 20;
  }

  line(text: string): void {
    if (!this.quiet) this.io.err(`[sim] ${text}\n`);
  }

  seedDone(r: SimResult, wallMs: number): void {
    this.done++;
    if (!r.ok) {
      this.violations++;
      const v = r.violation!;
      // Always said, even with --quiet: the details follow when the run ends.
      this.io.err(`[sim] VIOLATION seed ${r.seed} (${describeCombo(r)}): ${v.invariant} at step ${v.step}, virtual time ${v.time.toFixed(3)} ms\n`);
    }
    const now = performance.now();
    if (this.perSeed) {
      if (r.ok) {
        this.line(
          `seed ${r.seed} (${describeCombo(r)}): ok, ${r.committed} committed, ${r.elections} elections, ${r.faultsInjected} faults, ` +
            `recovery ${r.max_recovery_ms} ms, ${(wallMs / 1000).toFixed(2)} s [${this.done}/${this.total}]`,
        );
      }
    } else if (now - this.lastLine >= this.intervalMs || this.done === this.total) {
      this.lastLine = now;
      const elapsed = (now - this.t0) / 1000;
      const rate = elapsed > 0 ? (this.done / elapsed) * 60 : 0;
      const left = rate > 0 ? ((this.total - this.done) / rate) * 60 : Infinity;
      this.line(
        `${this.done}/${this.total} seeds, ${this.violations} violation${this.violations === 1 ? '' : 's'}, ` +
          `${rate.toFixed(1)} seeds/min, ${fmtDuration(elapsed)} elapsed${this.done < this.total ? `, ~${fmtDuration(left)} left` : ''}`,
      );
    }
  }
}

// ------------------------------------------------------------------ the action

function checkTraceTarget(pattern: string): void {
  const dir = path.dirname(path.resolve(pattern));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new CliError(`the directory of --trace ${pattern} (${dir}) does not exist; create it or pass another path.`);
  }
  if (!st.isDirectory()) throw new CliError(`--trace ${pattern}: ${dir} is not a directory; pass another path.`);
}

async function writeTrace(plan: SimPlan, seed: number, file: string): Promise<TraceOutcome> {
  try {
    return await traceSeedToFile(seedOptions(seed, plan.combos, plan.knobs), file);
  } catch (err) {
    throw new CliError(`cannot write the trace of seed ${seed} to ${file}: ${err instanceof Error ? err.message : String(err)}; pass --trace with a writable path.`, EXIT.ERROR);
  }
}

export async function simAction(opts: SimCliOptions, io: CliIo): Promise<number> {
  const combos = combinations(opts.nodes, opts.quorum, opts.faults);
  const single = opts.seed !== undefined;
  if (!single && opts.seeds - 1 > Number.MAX_SAFE_INTEGER - opts.from) throw new CliError('--from + --seeds goes past 2^53-1; use smaller seeds.');
  const seeds = single ? [opts.seed!] : Array.from({ length: opts.seeds }, (_, i) => opts.from + i);
  const plan: SimPlan = {
    seeds,
    combos,
    knobs: {
      txns: opts.txns,
      ...(opts.clients !== undefined ? { clients: opts.clients } : {}),
      ...(opts.minFaultPhase !== undefined ? { minFaultPhaseMs: opts.minFaultPhase } : {}),
      ...(opts.maxFaultPhase !== undefined ? { maxFaultPhaseMs: opts.maxFaultPhase } : {}),
      ...(opts.recoveryBound !== undefined ? { recoveryBoundMs: opts.recoveryBound } : {}),
      ...(opts.wire ? {} : { wire: false }),
    },
  };
  const pattern = opts.trace ?? DEFAULT_TRACE;
  if (opts.trace !== undefined) checkTraceTarget(opts.trace);
  const jobs = single ? 1 : Math.min(opts.jobs, seeds.length);
  const progress = new Progress(io, seeds.length, opts.quiet === true, opts.progressInterval * 1000);
  if (opts.jobs > os.availableParallelism()) progress.line(`note: --jobs ${opts.jobs} is more than the ${os.availableParallelism()} CPUs here`);
  progress.line(
    single
      ? `seed ${opts.seed} (${describeCombo(comboFor(opts.seed!, combos))}), ${opts.txns} txns`
      : `${seeds.length} seeds (${seeds[0]}..${seeds[seeds.length - 1]}) over ${combos.length} combination${combos.length === 1 ? '' : 's'} ` +
          `(nodes ${opts.nodes.join(',')}; ${opts.quorum.join(',')}; faults ${opts.faults.join(',')}), ${opts.txns} txns each, ${jobs} job${jobs === 1 ? '' : 's'}`,
  );

  const t0 = performance.now();
  const traced = new Map<number, TraceOutcome>();
  let results: SimResult[];
  if (single && opts.trace !== undefined) {
    // One seed with a trace file: trace the run itself.
    const t1 = performance.now();
    const outcome = await writeTrace(plan, opts.seed!, traceFileFor(pattern, opts.seed!));
    traced.set(opts.seed!, outcome);
    results = [outcome.result];
    progress.seedDone(outcome.result, performance.now() - t1);
    progress.line(`trace: ${outcome.file} (${outcome.lines} lines, ${(outcome.bytes / 1e6).toFixed(1)} MB)`);
  } else {
    try {
      results = await runPlan(plan, { jobs, onResult: (r, ms) => progress.seedDone(r, ms) });
    } catch (err) {
      if (err instanceof WorkerError) throw new CliError(`${err.message}. Try again with --jobs 1.`, EXIT.ERROR);
      throw err;
    }
  }
  const wallMs = performance.now() - t0;
  const summary = summarize(plan, results, wallMs, jobs);

  // Violations: trace the failing seeds (a deterministic re-run fails the same way; checked).
  const bySeed = new Map(results.map((r) => [r.seed, r]));
  const traceable = pattern.includes('{seed}') ? opts.maxTraces : Math.min(1, opts.maxTraces);
  let tracesWritten = 0;
  let traceError: CliError | null = null;
  for (const f of summary.failing) {
    const original = bySeed.get(f.seed)!;
    const already = traced.get(f.seed);
    if (already) {
      f.trace = already.file;
      f.reproduced = true;
    } else if (tracesWritten < traceable && !traceError) {
      const file = traceFileFor(pattern, f.seed);
      io.err(`[sim] re-running seed ${f.seed} with tracing on, writing ${file} ...\n`);
      try {
        const outcome = await writeTrace(plan, f.seed, file);
        f.trace = outcome.file;
        f.reproduced = sameViolation(original, outcome.result);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        traceError = err;
      }
    }
    if (f.trace) tracesWritten++;
    reportViolation(io, f, traceError);
  }
  if (summary.failing.length > tracesWritten && !traceError) {
    io.err(`[sim] traced ${tracesWritten} of ${summary.failing.length} failing seeds; replay the others with the commands above and --trace FILE` +
      `${pattern.includes('{seed}') ? ' (or raise --max-traces)' : ' (or use {seed} in --trace and raise --max-traces)'}\n`);
  }

  const out: Record<string, unknown> = { ...summary };
  if (single && opts.trace !== undefined) out.trace = traced.get(opts.seed!)!.file;
  io.out(`${JSON.stringify(out)}\n`);
  if (summary.violations > 0) return EXIT.FOUND;
  if (traceError) {
    io.err(`zab: error: ${traceError.message}\n`);
    return traceError.exitCode;
  }
  return EXIT.OK;
}

function reportViolation(io: CliIo, f: FailingSeed, traceError: CliError | null): void {
  const lines = [
    `VIOLATION: seed ${f.seed} (${describeCombo(f)}): invariant ${f.invariant} violated at step ${f.step}, virtual time ${f.time} ms`,
    ...f.detail.split('\n').slice(0, 12).map((l) => `  ${l}`),
    `  replay: ${f.replay}`,
  ];
  if (f.trace) {
    lines.push(
      `  trace:  ${f.trace}` +
        (f.reproduced
          ? ' (the traced re-run hit the same invariant at the same step and virtual time)'
          : ' (WARNING: the traced re-run did NOT fail the same way: the run is not deterministic, which is a bug in itself)'),
    );
  } else if (traceError) {
    lines.push(`  trace:  not written: ${traceError.message}`);
  } else {
    lines.push(`  trace:  not written (limit --max-traces); add --trace FILE to the replay command`);
  }
  io.err(`${lines.join('\n')}\n`);
}
