/**
 * Many-seed simulation runs, independent of the command line: which configuration each seed gets,
 * running seeds in this process or in worker processes, tracing a seed to a JSONL file, and the
 * summary of a run. `zab sim` (src/cli/sim.ts) and the suite's seed tests both build on this.
 *
 * A seed's configuration depends only on the seed number and the list of combinations (seed s gets
 * combination s mod k), so a seed number plus the same flags replays the same run, whatever the
 * number of worker processes or the range the seed was part of.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSeed, type FaultLevel, type QuorumKind, type SimOptions, type SimResult } from './cluster.js';

export const QUORUM_KINDS: readonly QuorumKind[] = ['majority', 'weighted', 'hierarchical'];
export const FAULT_LEVELS: readonly FaultLevel[] = ['none', 'light', 'heavy'];

export interface Combo {
  nodes: number;
  quorum: QuorumKind;
  faults: FaultLevel;
}

/** Per-run knobs passed through to runSeed (everything in SimOptions that is plain data). */
export interface SeedKnobs {
  txns: number;
  clients?: number;
  minFaultPhaseMs?: number;
  maxFaultPhaseMs?: number;
  recoveryBoundMs?: number;
  wire?: boolean;
}

export interface SimPlan {
  /** the seeds to run, in order */
  seeds: number[];
  /** combinations the seeds are spread over (seed s gets combos[s mod k]) */
  combos: Combo[];
  knobs: SeedKnobs;
}

/** Every combination, node counts outermost, fault levels innermost. */
export function combinations(nodes: readonly number[], quorums: readonly QuorumKind[], faults: readonly FaultLevel[]): Combo[] {
  const out: Combo[] = [];
  for (const n of nodes) for (const quorum of quorums) for (const f of faults) out.push({ nodes: n, quorum, faults: f });
  return out;
}

export function comboFor(seed: number, combos: readonly Combo[]): Combo {
  if (combos.length === 0) throw new RangeError('no combinations to run');
  const k = combos.length;
  return combos[((seed % k) + k) % k]!;
}

export function seedOptions(seed: number, combos: readonly Combo[], knobs: SeedKnobs): SimOptions {
  const c = comboFor(seed, combos);
  const o: SimOptions = { seed, nodes: c.nodes, quorum: c.quorum, faults: c.faults, txns: knobs.txns };
  if (knobs.clients !== undefined) o.clients = knobs.clients;
  if (knobs.minFaultPhaseMs !== undefined) o.minFaultPhaseMs = knobs.minFaultPhaseMs;
  if (knobs.maxFaultPhaseMs !== undefined) o.maxFaultPhaseMs = knobs.maxFaultPhaseMs;
  if (knobs.recoveryBoundMs !== undefined) o.recoveryBoundMs = knobs.recoveryBoundMs;
  if (knobs.wire !== undefined) o.wire = knobs.wire;
  return o;
}

export function describeCombo(c: Combo): string {
  return `${c.nodes} nodes, ${c.quorum} quorum, ${c.faults === 'none' ? 'no' : c.faults} faults`;
}

/** Short form for the JSON summary: "5/weighted/heavy". */
export function comboKey(c: Combo): string {
  return `${c.nodes}/${c.quorum}/${c.faults}`;
}

/** The command line that replays one seed alone (its combination pinned, so no other flag matters). */
export function replayCommand(options: SimOptions): string {
  const parts = ['zab sim', `--seed ${options.seed}`, `--nodes ${options.nodes}`, `--quorum ${options.quorum}`, `--faults ${options.faults}`, `--txns ${options.txns}`];
  if (options.clients !== undefined) parts.push(`--clients ${options.clients}`);
  if (options.minFaultPhaseMs !== undefined) parts.push(`--min-fault-phase ${options.minFaultPhaseMs}`);
  if (options.maxFaultPhaseMs !== undefined) parts.push(`--max-fault-phase ${options.maxFaultPhaseMs}`);
  if (options.recoveryBoundMs !== undefined) parts.push(`--recovery-bound ${options.recoveryBoundMs}`);
  if (options.wire === false) parts.push('--no-wire');
  return parts.join(' ');
}

/** runSeed, with a throw turned into a failing result (so one broken seed does not end a soak). */
export async function runSeedSafe(options: SimOptions): Promise<SimResult> {
  try {
    return await runSeed(options);
  } catch (err) {
    return {
      seed: options.seed,
      nodes: options.nodes,
      quorum: options.quorum,
      faults: options.faults,
      ok: false,
      committed: 0,
      acked: 0,
      elections: 0,
      faultsInjected: 0,
      max_recovery_ms: 0,
      virtual_ms: 0,
      steps: 0,
      violation: {
        invariant: 'RunnerError',
        detail: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err),
        step: -1,
        time: -1,
      },
    };
  }
}

// ------------------------------------------------------------------ running a plan

export interface RunPlanOptions {
  /** worker processes (1: run in this process) */
  jobs?: number;
  /** called as each seed finishes (in completion order, which depends on jobs) */
  onResult?: (result: SimResult, wallMs: number) => void;
}

/** Runs every seed of the plan; results come back sorted by seed whatever `jobs` is. */
export async function runPlan(plan: SimPlan, opts: RunPlanOptions = {}): Promise<SimResult[]> {
  const jobs = Math.max(1, Math.min(opts.jobs ?? 1, plan.seeds.length));
  const results = jobs <= 1 ? await runInProcess(plan, opts) : await runInWorkers(plan, jobs, opts);
  return results.sort((a, b) => a.seed - b.seed);
}

async function runInProcess(plan: SimPlan, opts: RunPlanOptions): Promise<SimResult[]> {
  const out: SimResult[] = [];
  for (const seed of plan.seeds) {
    const t0 = performance.now();
    const r = await runSeedSafe(seedOptions(seed, plan.combos, plan.knobs));
    out.push(r);
    opts.onResult?.(r, performance.now() - t0);
  }
  return out;
}

/** Messages between the parent and src/sim/sim-worker.ts. */
export type WorkerRequest = { type: 'run'; options: SimOptions };
export type WorkerReply = { type: 'result'; result: SimResult; wallMs: number };

export class WorkerError extends Error {}

/** The worker module next to this one; only the compiled (.js) form can be forked. */
export function workerPath(): string {
  const url = new URL(import.meta.url.endsWith('.ts') ? './sim-worker.ts' : './sim-worker.js', import.meta.url);
  return fileURLToPath(url);
}

function runInWorkers(plan: SimPlan, jobs: number, opts: RunPlanOptions): Promise<SimResult[]> {
  const file = workerPath();
  if (file.endsWith('.ts')) {
    return Promise.reject(new WorkerError('worker processes need the compiled code: run `npm run build` and use dist/src/cli/main.js (or --jobs 1)'));
  }
  return new Promise((resolve, reject) => {
    const queue = [...plan.seeds];
    const out: SimResult[] = [];
    const children: ChildProcess[] = [];
    let failed = false;
    let finished = 0;
    const fatal = (err: Error): void => {
      if (failed) return;
      failed = true;
      for (const c of children) c.kill();
      reject(err);
    };
    const feed = (child: ChildProcess): void => {
      const seed = queue.shift();
      if (seed === undefined) {
        child.disconnect();
        return;
      }
      const msg: WorkerRequest = { type: 'run', options: seedOptions(seed, plan.combos, plan.knobs) };
      child.send(msg);
    };
    for (let j = 0; j < jobs; j++) {
      const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
      children.push(child);
      child.on('message', (m: WorkerReply) => {
        if (failed || m.type !== 'result') return;
        out.push(m.result);
        opts.onResult?.(m.result, m.wallMs);
        feed(child);
      });
      child.on('error', (err) => fatal(new WorkerError(`worker process ${j + 1}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        if (failed) return;
        if (code !== 0) return fatal(new WorkerError(`worker process ${j + 1} exited with ${signal ?? `code ${code}`} before finishing its seeds`));
        if (++finished === jobs) {
          if (out.length !== plan.seeds.length) return fatal(new WorkerError(`workers returned ${out.length} of ${plan.seeds.length} results`));
          resolve(out);
        }
      });
      feed(child);
    }
  });
}

// ------------------------------------------------------------------ tracing one seed

export interface TraceOutcome {
  result: SimResult;
  file: string;
  lines: number;
  bytes: number;
}

/**
 * XState names an actor created without an id `x:<n>` from a counter global to the process, so the
 * raw trace of a seed depends on what ran before it in the same process. This renames those ids to
 * `x:<k>`, k counting the distinct ids in order of first appearance in this run: the same seed then
 * gives the same bytes in any process. Ids the runtime chose (e.g. `role`, `learner-2-0`) are kept.
 */
export function actorIdNormalizer(): (line: string) => string {
  const ids = new Map<string, number>();
  return (line) =>
    line.replace(/"actor":"x:(\d+)"/g, (_m, n: string) => {
      let k = ids.get(n);
      if (k === undefined) ids.set(n, (k = ids.size));
      return `"actor":"x:${k}"`;
    });
}

/** Runs one seed with tracing on, writing every trace line (actor ids normalized) to `file` (JSONL). */
export async function traceSeedToFile(options: SimOptions, file: string): Promise<TraceOutcome> {
  const fd = fs.openSync(file, 'w');
  let buf: string[] = [];
  let pending = 0;
  let lines = 0;
  let bytes = 0;
  const normalize = actorIdNormalizer();
  const flush = (): void => {
    if (buf.length === 0) return;
    const chunk = buf.join('');
    fs.writeSync(fd, chunk);
    bytes += Buffer.byteLength(chunk);
    buf = [];
    pending = 0;
  };
  try {
    const result = await runSeedSafe({
      ...options,
      trace: (raw) => {
        const line = normalize(raw);
        buf.push(line, '\n');
        lines++;
        pending += line.length + 1;
        if (pending >= 1 << 20) flush();
      },
    });
    flush();
    return { result, file, lines, bytes };
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a traced re-run failed exactly as the original run did. */
export function sameViolation(a: SimResult, b: SimResult): boolean {
  const x = a.violation;
  const y = b.violation;
  if (!x || !y) return !x && !y;
  return x.invariant === y.invariant && x.step === y.step && x.time === y.time;
}

/** `pattern` with `{seed}` replaced. */
export function traceFileFor(pattern: string, seed: number): string {
  return pattern.replaceAll('{seed}', String(seed));
}

// ------------------------------------------------------------------ the summary

export interface FailingSeed {
  seed: number;
  nodes: number;
  quorum: QuorumKind;
  faults: FaultLevel;
  invariant: string;
  step: number;
  time: number;
  detail: string;
  replay: string;
  trace?: string;
  /** the traced re-run hit the same invariant at the same step and virtual time */
  reproduced?: boolean;
}

export interface SimSummary {
  seeds: number;
  violations: number;
  committed: number;
  acked: number;
  elections: number;
  faults: number;
  max_recovery_ms: number;
  max_recovery_seed: number | null;
  virtual_ms: number;
  steps: number;
  wall_s: number;
  seeds_per_min: number;
  txns_per_wall_s: number;
  jobs: number;
  combinations: string[];
  failing: FailingSeed[];
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export function summarize(plan: SimPlan, results: readonly SimResult[], wallMs: number, jobs: number): SimSummary {
  let committed = 0;
  let acked = 0;
  let elections = 0;
  let faults = 0;
  let virtualMs = 0;
  let steps = 0;
  let maxRecovery = 0;
  let maxRecoverySeed: number | null = null;
  const failing: FailingSeed[] = [];
  for (const r of results) {
    committed += r.committed;
    acked += r.acked;
    elections += r.elections;
    faults += r.faultsInjected;
    virtualMs += r.virtual_ms;
    steps += r.steps;
    if (r.ok && (maxRecoverySeed === null || r.max_recovery_ms > maxRecovery)) {
      maxRecovery = r.max_recovery_ms;
      maxRecoverySeed = r.seed;
    }
    if (!r.ok) {
      const v = r.violation ?? { invariant: 'Unknown', detail: '', step: -1, time: -1 };
      failing.push({
        seed: r.seed,
        nodes: r.nodes,
        quorum: r.quorum,
        faults: r.faults,
        invariant: v.invariant,
        step: v.step,
        time: round(v.time, 3),
        detail: v.detail.length > 600 ? `${v.detail.slice(0, 600)}...` : v.detail,
        replay: replayCommand(seedOptions(r.seed, plan.combos, plan.knobs)),
      });
    }
  }
  const wallS = wallMs / 1000;
  return {
    seeds: results.length,
    violations: failing.length,
    committed,
    acked,
    elections,
    faults,
    max_recovery_ms: maxRecovery,
    max_recovery_seed: maxRecoverySeed,
    virtual_ms: virtualMs,
    steps,
    wall_s: round(wallS, 2),
    seeds_per_min: wallS > 0 ? round((results.length / wallS) * 60, 1) : 0,
    txns_per_wall_s: wallS > 0 ? Math.round(committed / wallS) : 0,
    jobs,
    combinations: plan.combos.map(comboKey),
    failing,
  };
}
