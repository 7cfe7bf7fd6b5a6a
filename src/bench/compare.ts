#!/usr/bin/env node
/**
 * `npm run bench:compare`: Apache ZooKeeper 3.8 against zab-ts on this machine, same parameters, back to
 * back in one run.
 *  - ZooKeeper: the anchor's ensemble.sh (/work/shared/anchors/zookeeper; ZK_BASE in a temp dir, fsync
 *    on) and its Java load generator JavaBench (compiled into a temp dir);
 *  - zab: `zab ensemble` (LocalEnsemble: one process per server, fsync on) and `zab bench --servers`
 *    as a separate generator process, the same way round.
 * Throughput: per round and ensemble size, ZK then zab (ZK, zab, ZK, zab...), each on a fresh ensemble
 * that first gets the same JIT warm-up load (--zk-warmup), then every selected scenario.
 * Failover: per signal (SIGKILL, SIGSTOP) and repetition, ZK then zab, each on a fresh warmed ensemble
 * (src/bench/failover.ts). Both systems use the same tickTime (--tick-time), initLimit 10, syncLimit 5.
 * Progress on stderr; tables, then one JSON line, on stdout. Every process started is stopped again,
 * also on failure and on Ctrl-C (src/bench/procs.ts).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { statusOf, LocalEnsemble } from './ensemble-bench.js';
import type { LoadOptions } from './load.js';
import {
  CommanderError,
  failoverTable,
  parseCompareArgs,
  scalingTable,
  selectedScenarios,
  throughputTable,
  type CompareOptions,
  type LoadOp,
  type SystemName,
  type ThroughputRun,
} from './compare-report.js';
import { failoverRep, type FailoverRep, type FailoverSignal, type FailoverTarget, type LeaderInfo } from './failover.js';
import { cleanupAll, installSignalCleanup, runJsonChild, track, untrackAndStop } from './procs.js';
import { compileJavaClients, PreflightError, ZK_CLIENT_CP, ZkEnsemble, zkPreflight } from './zk-anchor.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '../cli/main.js');
const ZAB_PROBE = path.join(HERE, 'zab-failover-probe.js');

const t0 = Date.now();
const progress = (l: string): void => {
  const s = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`[compare ${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${l}\n`);
};

/** One load run, the same for both systems: `zab bench`'s options plus the scenario's label. */
type LoadSpec = Pick<LoadOptions, 'size' | 'clients' | 'outstanding' | 'seconds' | 'warmup'> & { op: LoadOp; label: string };

interface RunningSystem {
  name: SystemName;
  nodes: number;
  load(s: LoadSpec): Promise<{ run: LoadRun; raw: Record<string, unknown> }>;
  target: FailoverTarget;
  stop(): Promise<void>;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const sum = (xs: (number | null)[]): number | null => (xs.length && xs.every((x) => x !== null) ? Math.round((xs as number[]).reduce((a, b) => a + b, 0) * 100) / 100 : null);

/** One load run's figures, before the orchestrator adds which system, round, size and scenario. */
type LoadRun = Omit<ThroughputRun, 'system' | 'round' | 'nodes' | 'scenario'>;
type CpuFigures = Pick<ThroughputRun, 'serversCpu' | 'clientCpu' | 'systemBusy'>;

/** The fields both load generators' JSON share (same names: JavaBench mirrors `zab bench`), plus each one's CPU figures. */
function runOf(raw: Record<string, unknown>, cpu: CpuFigures): LoadRun {
  const lat = (raw.latency_ms ?? {}) as Record<string, unknown>;
  return {
    placement: String(raw.placement ?? '?'),
    opsPerSec: num(raw.ops_per_sec) ?? 0,
    p50Ms: num(lat.p50),
    p99Ms: num(lat.p99),
    maxMs: num(lat.max),
    errors: num(raw.errors) ?? 0,
    ...cpu,
    drainMs: num(raw.drain_ms),
  };
}

/* ---------------- ZooKeeper ---------------- */

async function startZk(o: CompareOptions, nodes: number, classes: string): Promise<RunningSystem> {
  const ens = track(await ZkEnsemble.start({ nodes, tickTime: o.tickTime, portBase: o.zkPortBase, heap: o.zkHeap, anchorDir: o.anchorDir }));
  const cp = [classes, ...ZK_CLIENT_CP].join(':');
  const pids = ens.pids();
  const target: FailoverTarget = {
    system: 'zk',
    servers: ens.servers,
    async settled() {
      const m = await ens.modes();
      return m.filter((x) => x === 'leader').length === 1 && m.filter((x) => x === 'follower').length === m.length - 1;
    },
    async leader() {
      const i = (await ens.modes()).indexOf('leader');
      return i < 0 ? null : { id: i + 1, pid: pids[i]!, epoch: null };
    },
    newLeaderServing: (old: LeaderInfo) => ens.newLeaderServing(old.id),
    probe: (servers, ordered) => ({
      cmd: 'java',
      args: ['-Xmx256m', '-cp', cp, 'ZkFailoverProbe', '--servers', servers.join(','), '--session-timeout', String(o.zkSessionTimeout), '--size', '100', '--ordered', ordered ? 'yes' : 'no'],
    }),
  };
  return {
    name: 'zk',
    nodes,
    target,
    async load(s) {
      const raw = await runJsonChild(
        'java',
        ['-Xmx512m', '-cp', cp, 'JavaBench', '--servers', ens.servers.join(','), '--op', s.op, '--size', String(s.size), '--clients', String(s.clients), '--outstanding', String(s.outstanding), '--seconds', String(s.seconds), '--warmup', String(s.warmup), '--zk-pids', pids.join(','), '--label', s.label],
        (s.seconds + s.warmup) * 1000 + 180_000,
        `JavaBench ${s.label}`,
      );
      const cpu = (raw.cpu_cores ?? {}) as Record<string, unknown>;
      return { raw, run: runOf(raw, { serversCpu: Array.isArray(cpu.zk) ? sum(cpu.zk.map(num)) : null, clientCpu: num(cpu.client), systemBusy: num(cpu.system_busy) }) };
    },
    stop: () => untrackAndStop(ens),
  };
}

/* ---------------- zab ---------------- */

async function startZab(o: CompareOptions, nodes: number): Promise<RunningSystem> {
  const ens = track(await LocalEnsemble.start(nodes, o.tickTime));
  const statuses = () => Promise.all(ens.addrs.map((a) => statusOf(a).catch(() => null)));
  const target: FailoverTarget = {
    system: 'zab',
    servers: ens.addrs,
    async settled() {
      const st = await statuses();
      return st.every((s) => s !== null && s.phase === 'broadcast') && st.filter((s) => s!.role === 'leading').length === 1 && st.filter((s) => s!.role === 'following').length === st.length - 1;
    },
    async leader() {
      const l = (await statuses()).find((s) => s?.role === 'leading');
      return l ? { id: l.serverId, pid: l.pid, epoch: l.epoch } : null;
    },
    async newLeaderServing(old: LeaderInfo) {
      const st = await Promise.all(ens.addrs.filter((_, i) => i + 1 !== old.id).map((a) => statusOf(a).catch(() => null)));
      return st.some((s) => s !== null && s.role === 'leading' && s.phase === 'broadcast' && s.epoch > (old.epoch ?? -1));
    },
    probe: (servers, ordered) => ({
      cmd: process.execPath,
      args: [ZAB_PROBE, '--servers', servers.join(','), '--size', '100', '--ordered', ordered ? 'yes' : 'no', ...(o.zabRequestTimeout !== null ? ['--request-timeout', String(o.zabRequestTimeout)] : [])],
    }),
  };
  return {
    name: 'zab',
    nodes,
    target,
    async load(s) {
      const raw = await runJsonChild(
        process.execPath,
        [CLI, 'bench', '--servers', ens.addrs.join(','), '--op', s.op, '--size', String(s.size), '--clients', String(s.clients), '--outstanding', String(s.outstanding), '--seconds', String(s.seconds), '--warmup', String(s.warmup)],
        (s.seconds + s.warmup) * 1000 + 180_000,
        `zab bench ${s.label}`,
      );
      const servers = (Array.isArray(raw.servers) ? raw.servers : []) as Record<string, unknown>[];
      const gen = (raw.generator ?? {}) as Record<string, unknown>;
      const sys = (raw.system ?? {}) as Record<string, unknown>;
      return { raw, run: runOf(raw, { serversCpu: servers.length ? sum(servers.map((x) => num(x.cores))) : null, clientCpu: num(gen.cores), systemBusy: num(sys.busy_cores) }) };
    },
    stop: () => untrackAndStop(ens),
  };
}

/* ---------------- the run ---------------- */

/** The anchor's JIT warm-up (run-throughput.sh): set 4x64 for W/2, get 4x64 for W/4, set 1x1 for W/4. */
async function jitWarmup(sys: RunningSystem, w: number): Promise<void> {
  if (w <= 0) return;
  const q = Math.max(1, Math.floor(w / 4));
  const phases: LoadSpec[] = [
    { op: 'set', size: 100, clients: 4, outstanding: 64, seconds: Math.max(1, Math.ceil(w / 2)), warmup: 0, label: 'jit-warmup' },
    { op: 'get', size: 100, clients: 4, outstanding: 64, seconds: q, warmup: 0, label: 'jit-warmup' },
    { op: 'set', size: 100, clients: 1, outstanding: 1, seconds: q, warmup: 0, label: 'jit-warmup' },
  ];
  progress(`${sys.name}: JIT warm-up ${phases.reduce((a, p) => a + p.seconds, 0)} s (set 4x64, get 4x64, set 1x1)`);
  for (const p of phases) await sys.load(p);
}

async function startSystem(o: CompareOptions, name: SystemName, nodes: number, classes: string | null): Promise<RunningSystem> {
  progress(`${name}: starting a fresh ${nodes}-server ensemble (tickTime ${o.tickTime}, initLimit 10, syncLimit 5, fsync on)`);
  return name === 'zk' ? startZk(o, nodes, classes!) : startZab(o, nodes);
}

interface Failure {
  system: SystemName;
  what: string;
  error: string;
}

async function main(): Promise<number> {
  let o: CompareOptions;
  try {
    o = parseCompareArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      process.stderr.write(`bench:compare: ${e.message.replace(/^error: /, '')}\n(see: npm run bench:compare -- --help)\n`);
      return 2;
    }
    throw e;
  }
  installSignalCleanup(progress);
  const scenarios = o.throughput ? selectedScenarios(o.only) : [];
  if (o.throughput && scenarios.length === 0) {
    process.stderr.write(`bench:compare: --only ${o.only} matches no scenario\n`);
    return 2;
  }

  // preflight
  let classes: string | null = null;
  let javaVersion: string | null = null;
  let tmp: string | null = null;
  if (!fs.existsSync(CLI) || !fs.existsSync(ZAB_PROBE)) {
    process.stderr.write(`bench:compare: ${CLI} or ${ZAB_PROBE} is missing: run npm run build (npm run bench:compare does)\n`);
    return 2;
  }
  try {
    if (o.systems.includes('zk')) {
      const maxNodes = Math.max(...(o.throughput ? o.nodes : []), o.failoverReps > 0 ? o.failoverNodes : 0, 1);
      javaVersion = await zkPreflight({ anchorDir: o.anchorDir, portBase: o.zkPortBase, maxNodes });
      tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-compare-java-'));
      const dir = tmp;
      track({ stop: () => fsp.rm(dir, { recursive: true, force: true }) });
      progress(`compiling JavaBench and ZkFailoverProbe into ${tmp} (${javaVersion})`);
      classes = await compileJavaClients(o.anchorDir, tmp);
    }
  } catch (e) {
    if (e instanceof PreflightError) {
      process.stderr.write(`bench:compare: ${e.message}\n`);
      await cleanupAll();
      return 2;
    }
    throw e;
  }

  const runs: (ThroughputRun & { raw: Record<string, unknown> })[] = [];
  const reps: FailoverRep[] = [];
  const failures: Failure[] = [];
  const systems = (['zk', 'zab'] as const).filter((s) => o.systems.includes(s));

  if (scenarios.length) {
    const perSys = o.zkWarmup + scenarios.length * (o.seconds + o.warmup + 3) + 8;
    progress(
      `throughput: ${o.rounds} round(s) x ${o.nodes.length} size(s) x ${systems.join(', ')}: ${scenarios.map((s) => s.label).join(', ')}; ` +
        `about ${Math.round((o.rounds * o.nodes.length * systems.length * perSys) / 60)} min`,
    );
    for (let round = 1; round <= o.rounds; round++) {
      for (const nodes of o.nodes) {
        for (const name of systems) {
          const sys = await startSystem(o, name, nodes, classes);
          try {
            await jitWarmup(sys, o.zkWarmup);
            for (const sc of scenarios) {
              try {
                const { run, raw } = await sys.load({ ...sc, seconds: o.seconds, warmup: o.warmup });
                const r = { system: name, round, nodes, scenario: sc.label, ...run, raw };
                runs.push(r);
                progress(
                  `round ${round}/${o.rounds} ${nodes} nodes ${name} ${sc.label}: ${r.opsPerSec} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
                    `errors ${r.errors}, servers CPU ${r.serversCpu}, system busy ${r.systemBusy} (${r.placement})`,
                );
              } catch (e) {
                const msg = e instanceof Error ? e.message : String(e);
                failures.push({ system: name, what: `round ${round} ${nodes} nodes ${sc.label}`, error: msg });
                progress(`round ${round} ${nodes} nodes ${name} ${sc.label}: FAILED: ${msg}`);
              }
            }
          } finally {
            progress(`${name}: stopping the ensemble`);
            await sys.stop();
          }
        }
      }
    }
  }

  if (o.failoverReps > 0) {
    for (const signal of o.failoverSignals as FailoverSignal[]) {
      for (let rep = 1; rep <= o.failoverReps; rep++) {
        for (const name of systems) {
          const sys = await startSystem(o, name, o.failoverNodes, classes);
          try {
            if (o.failoverWarmup > 0) {
              progress(`${name}: failover warm-up: set 4x16 for ${o.failoverWarmup} s, then set 1x1 for 2 s`);
              await sys.load({ op: 'set', size: 100, clients: 4, outstanding: 16, seconds: o.failoverWarmup, warmup: 0, label: 'failover-warmup' });
              await sys.load({ op: 'set', size: 100, clients: 1, outstanding: 1, seconds: 2, warmup: 0, label: 'failover-warmup' });
            }
            const writer = signal === 'KILL' ? o.killWriter : o.stopWriter;
            const r = await failoverRep(sys.target, { signal, writer, before: o.failoverBefore, after: o.failoverAfter, timeoutS: o.failoverTimeout }, progress);
            reps.push(r);
            progress(
              `failover SIG${signal} ${rep}/${o.failoverReps} ${name}: gap ${r.gapMs ?? 'did not resume'} ms, signal → first ok ${r.signalToFirstOkMs} ms, ` +
                `signal → new leader ${r.signalToNewLeaderMs} ms, writer on ${r.writerOn}, errors ${r.errorsAfterSignal} ${JSON.stringify(r.errorKinds)}`,
            );
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            failures.push({ system: name, what: `failover SIG${signal} rep ${rep}`, error: msg });
            progress(`failover SIG${signal} ${rep} ${name}: FAILED: ${msg}`);
          } finally {
            await sys.stop();
          }
        }
      }
    }
  }
  await cleanupAll();

  const out: string[] = [
    `# ZooKeeper 3.8 (JavaBench) vs zab (zab bench), ${os.cpus().length} cores, tickTime ${o.tickTime}, initLimit 10, syncLimit 5, fsync on; median (min–max)`,
  ];
  if (runs.length) out.push(`Throughput: ${o.rounds} round(s) of ${o.seconds} s (+${o.warmup} s warm-up) per scenario, JIT warm-up ${o.zkWarmup} s per fresh ensemble`);
  if (runs.length) {
    out.push('', throughputTable(runs, scenarios.map((s) => s.label), o.nodes));
    if (o.nodes.length > 1) out.push('', `Scaling (ops/s by ensemble size; the last column of each system: change from ${o.nodes[0]} to ${o.nodes.at(-1)} servers)`, '', scalingTable(runs, scenarios.map((s) => s.label), o.nodes));
  }
  if (reps.length) out.push('', `Failover, ${o.failoverNodes} servers (fresh warmed ensemble per repetition; writer with 1 setData in flight)`, '', failoverTable(reps, o.tickTime));
  if (failures.length) out.push('', `FAILURES (${failures.length}):`, ...failures.map((f) => `- ${f.system} ${f.what}: ${f.error.split('\n')[0]}`));
  const json = {
    bench: 'compare',
    options: { ...o, only: o.only?.source ?? null },
    env: { node: process.version, java: javaVersion, ncpu: os.cpus().length, kernel: os.release() },
    throughput: runs,
    failover: reps,
    failures,
  };
  process.stdout.write(out.join('\n') + '\n' + JSON.stringify(json) + '\n');
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    progress(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanupAll();
    process.exit(1);
  },
);
