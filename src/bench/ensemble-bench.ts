/**
 * `bench ensemble`: a real local ensemble (`zab ensemble`, one process per server on 127.0.0.1, fsync
 * on) driven by the client library, measured the way the ZooKeeper anchor measures its ensemble
 * (/work/shared/anchors/zookeeper/README.md):
 *  - throughput: C clients, each pinned to one server (followers first) with K setData of `size` bytes
 *    in flight on its own znodes (closed loop); warm-up, then a measured window; ops/s and latency
 *    percentiles of the completions inside the window, and the machine's busy cores (/proc/stat);
 *  - failover: per repetition a fresh ensemble, a steady writer with one setData in flight through a
 *    client that knows every server; after a few seconds the leader is killed with SIGKILL; the gap is
 *    from the last write acknowledged before the kill to the first acknowledged after it.
 * Progress goes to stderr; a table, then one JSON line, to stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ZabClient } from '../client/client.js';
import type { ServerStatus } from '../server/client-protocol.js';
import { positiveInt, nonNegativeInt } from './cli-args.js';
import { freeBasePort } from './free-ports.js';

const HOST = '127.0.0.1';
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

const progress = (msg: string): void => {
  process.stderr.write(`[bench ensemble] ${msg}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface EnsembleBenchOptions {
  nodes: number;
  tickTime: number;
  seconds: number;
  warmup: number;
  clients: number;
  outstanding: number;
  size: number;
  failoverReps: number;
  throughput: boolean;
}

export interface ThroughputResult {
  clients: number;
  outstanding: number;
  size: number;
  placement: string;
  seconds: number;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  errors: number;
  systemBusyCores: number | null;
  cores: number;
}

export interface FailoverRep {
  killedLeader: number;
  writerOn: string;
  /** last ok before the kill -> first ok after it */
  gapMs: number;
  signalToFirstOkMs: number;
  /** signal -> a survivor reports leading/broadcast in a higher epoch (status polled every 20 ms) */
  signalToNewLeaderMs: number | null;
  errorsDuringOutage: number;
}

export interface EnsembleBenchResult {
  bench: 'ensemble';
  nodes: number;
  tickTime: number;
  forceSync: true;
  node: string;
  throughput: ThroughputResult | null;
  failover: { reps: FailoverRep[]; gapMedianMs: number | null; gapMinMs: number | null; gapMaxMs: number | null };
}

/* ---------- a local ensemble ---------- */

export async function statusOf(addr: string): Promise<ServerStatus> {
  const c = new ZabClient({ servers: addr, shuffle: false, requestTimeoutMs: 1000, connectTimeoutMs: 300, backoffMaxMs: 50 });
  try {
    return await c.status();
  } finally {
    await c.close();
  }
}

export interface LocalEnsembleOptions {
  /** snapCount of the servers' zoo.cfg (zab ensemble's default: 100,000) */
  snapCount?: number;
  /** where the ensemble's temp directory is made (default: the OS temp dir) */
  parentDir?: string;
  /** leave the directory (data, configs, server logs) in place on stop() */
  keepDir?: boolean;
}

/** A server process started by the bench itself (restartServer), outside the `zab ensemble` supervisor. */
interface OwnServer {
  proc: ChildProcess;
  exited: Promise<void>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LocalEnsemble {
  /** servers (re)started by restartServer, by id */
  private readonly own = new Map<number, OwnServer>();

  private constructor(
    readonly dir: string,
    readonly proc: ChildProcess,
    readonly addrs: string[],
    private readonly exited: Promise<void>,
    private readonly keepDir: boolean,
  ) {}

  static async start(nodes: number, tickTime: number, opts: LocalEnsembleOptions = {}): Promise<LocalEnsemble> {
    const dir = await fsp.mkdtemp(path.join(opts.parentDir ?? os.tmpdir(), 'zab-ens-bench-'));
    const base = await freeBasePort(nodes);
    const args = [CLI, 'ensemble', '--nodes', String(nodes), '--data-dir', path.join(dir, 'data'), '--base-port', String(base), '--tick-time', String(tickTime), '--keep-going'];
    if (opts.snapCount !== undefined) args.push('--snap-count', String(opts.snapCount));
    // The ensemble (and its servers) stop when this process goes away, even by SIGKILL.
    args.push('--stop-with-parent');
    const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', () => undefined);
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const addrs = Array.from({ length: nodes }, (_, i) => `${HOST}:${base + i}`);
    const ens = new LocalEnsemble(dir, proc, addrs, exited, opts.keepDir ?? false);
    const end = Date.now() + 30_000;
    while (!/ensemble ready/.test(out)) {
      if (Date.now() > end || proc.exitCode !== null) {
        await ens.stop();
        throw new Error(`the ensemble did not become ready: ${out.slice(-2000)}`);
      }
      await sleep(50);
    }
    return ens;
  }

  statuses(): Promise<ServerStatus[]> {
    return Promise.all(this.addrs.map(statusOf));
  }

  /** Directory of server `id` (1-based): its zoo.cfg, myid, snapshots, txn log and server.log. */
  serverDir(id: number): string {
    return path.join(this.dir, 'data', `server.${id}`);
  }

  /** The pino JSON log of server `id` (every run of it appends to the same file). */
  logFile(id: number): string {
    return path.join(this.serverDir(id), 'server.log');
  }

  /**
   * Stops server `id` (process `pid`, from its status) with SIGTERM, as an operator would, and waits
   * until the process is gone (SIGKILL after 30 s). The supervisor (--keep-going) keeps the others running.
   */
  async stopServer(id: number, pid: number): Promise<void> {
    const own = this.own.get(id);
    if (own && own.proc.pid === pid) {
      if (own.proc.exitCode === null && own.proc.signalCode === null) own.proc.kill('SIGTERM');
      const t = setTimeout(() => own.proc.kill('SIGKILL'), 30_000);
      await own.exited;
      clearTimeout(t);
      this.own.delete(id);
      return;
    }
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 30_000;
    while (pidAlive(pid)) {
      if (Date.now() > end) process.kill(pid, 'SIGKILL');
      await sleep(20);
    }
  }

  /**
   * Starts server `id` again (after stopServer) as `zab ensemble` does: `zab server --config <its zoo.cfg>`,
   * appending to its server.log, stopping when this process goes away. Resolves at once with the spawn time.
   */
  restartServer(id: number): { pid: number; spawnedAt: number } {
    if (this.own.has(id)) throw new Error(`server ${id} is already running`);
    const fd = fs.openSync(this.logFile(id), 'a');
    const spawnedAt = Date.now();
    const proc = spawn(process.execPath, [CLI, 'server', '--config', path.join(this.serverDir(id), 'zoo.cfg'), '--id', String(id), '--stop-with-parent'], {
      stdio: ['pipe', fd, fd],
    });
    fs.closeSync(fd);
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    this.own.set(id, { proc, exited });
    return { pid: proc.pid ?? -1, spawnedAt };
  }

  async stop(): Promise<void> {
    const own = [...this.own.values()];
    for (const o of own) if (o.proc.exitCode === null && o.proc.signalCode === null) o.proc.kill('SIGTERM');
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const t = setTimeout(() => {
      this.proc.kill('SIGKILL');
      for (const o of own) o.proc.kill('SIGKILL');
    }, 15_000);
    await Promise.all([this.exited, ...own.map((o) => o.exited)]);
    clearTimeout(t);
    this.own.clear();
    if (!this.keepDir) await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

/* ---------- measurements ---------- */

function cpuTimes(): { busy: number; total: number } | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

async function runThroughput(o: EnsembleBenchOptions): Promise<ThroughputResult> {
  progress(`throughput: starting a ${o.nodes}-server ensemble (tickTime ${o.tickTime})`);
  const ens = await LocalEnsemble.start(o.nodes, o.tickTime);
  const clients: ZabClient[] = [];
  try {
    const st = await ens.statuses();
    // Followers first, as the anchor places its sessions (4 clients on 3 servers: F F L F).
    const order = [...st.filter((s) => s.role !== 'leading'), ...st.filter((s) => s.role === 'leading')];
    const placement = Array.from({ length: o.clients }, (_, i) => order[i % order.length]!);
    const setup = new ZabClient({ servers: ens.addrs.join(',') });
    await setup.create('/bench-set', '');
    const value = new Uint8Array(o.size).fill(0x61);
    for (let c = 0; c < o.clients; c++) {
      await Promise.all(Array.from({ length: o.outstanding }, (_, k) => setup.create(`/bench-set/c${c}-${k}`, value)));
    }
    await setup.close();

    const t0 = performance.now();
    const windowStart = t0 + o.warmup * 1000;
    const windowEnd = windowStart + o.seconds * 1000;
    const latencies: number[] = [];
    let errors = 0;
    let cpuStart: ReturnType<typeof cpuTimes> = null;
    const cpuTimer = setTimeout(() => (cpuStart = cpuTimes()), o.warmup * 1000);
    let cpuEnd: ReturnType<typeof cpuTimes> = null;
    const cpuEndTimer = setTimeout(() => (cpuEnd = cpuTimes()), (o.warmup + o.seconds) * 1000);
    progress(`throughput: ${o.clients} clients x ${o.outstanding} setData of ${o.size} B, ${o.warmup} s warm-up + ${o.seconds} s`);
    const slot = async (client: ZabClient, p: string): Promise<void> => {
      for (;;) {
        const start = performance.now();
        if (start >= windowEnd) return;
        try {
          await client.setData(p, value);
          const end = performance.now();
          if (start >= windowStart && end <= windowEnd) latencies.push(end - start);
        } catch {
          errors++;
        }
      }
    };
    const runs: Promise<void>[] = [];
    for (let c = 0; c < o.clients; c++) {
      const client = new ZabClient({ servers: placement[c]!.clientAddress, shuffle: false });
      clients.push(client);
      for (let k = 0; k < o.outstanding; k++) runs.push(slot(client, `/bench-set/c${c}-${k}`));
    }
    await Promise.all(runs);
    clearTimeout(cpuTimer);
    clearTimeout(cpuEndTimer);
    latencies.sort((a, b) => a - b);
    const s0 = cpuStart as ReturnType<typeof cpuTimes>;
    const s1 = cpuEnd as ReturnType<typeof cpuTimes>;
    const busy = s0 && s1 && s1.total > s0.total ? ((s1.busy - s0.busy) / (s1.total - s0.total)) * os.cpus().length : null;
    return {
      clients: o.clients,
      outstanding: o.outstanding,
      size: o.size,
      placement: placement.map((s) => (s.role === 'leading' ? 'L' : 'F')).join(''),
      seconds: o.seconds,
      ops: latencies.length,
      opsPerSec: Math.round(latencies.length / o.seconds),
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(latencies.at(-1) ?? NaN),
      meanMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
      errors,
      systemBusyCores: busy === null ? null : round(busy),
      cores: os.cpus().length,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await ens.stop();
  }
}

async function runFailoverRep(o: EnsembleBenchOptions, rep: number): Promise<FailoverRep> {
  progress(`failover ${rep}: starting a fresh ${o.nodes}-server ensemble`);
  const ens = await LocalEnsemble.start(o.nodes, o.tickTime);
  const writer = new ZabClient({ servers: ens.addrs.join(',') });
  try {
    await writer.create('/failover', 'x');
    const value = new Uint8Array(100).fill(0x62);
    const acks: number[] = [];
    let errors = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          await writer.setData('/failover', value);
          acks.push(performance.now());
        } catch {
          errors++; // re-issued at once
        }
      }
    })();
    await sleep(3000);
    const st = await ens.statuses();
    const leader = st.find((s) => s.role === 'leading');
    if (!leader) throw new Error('no leader before the kill');
    const writerOn = writer.currentServer() ?? '?';
    const errorsBefore = errors;
    const killAt = performance.now();
    process.kill(leader.pid, 'SIGKILL');
    const survivors = ens.addrs.filter((_, i) => i + 1 !== leader.serverId);
    let newLeaderAt: number | null = null;
    const deadline = killAt + 30_000;
    while (performance.now() < deadline) {
      if (newLeaderAt === null) {
        const s = await Promise.all(survivors.map((a) => statusOf(a).catch(() => null)));
        if (s.some((x) => x && x.role === 'leading' && x.phase === 'broadcast' && x.epoch > leader.epoch)) newLeaderAt = performance.now();
      }
      if (newLeaderAt !== null && acks.filter((t) => t > killAt).length >= 20) break;
      await sleep(20);
    }
    stop = true;
    await loop;
    const before = acks.filter((t) => t <= killAt).at(-1);
    const after = acks.find((t) => t > killAt);
    if (before === undefined || after === undefined) throw new Error('no write acknowledged before or after the kill');
    const r: FailoverRep = {
      killedLeader: leader.serverId,
      writerOn: writerOn === leader.clientAddress ? 'L' : 'F',
      gapMs: Math.round(after - before),
      signalToFirstOkMs: Math.round(after - killAt),
      signalToNewLeaderMs: newLeaderAt === null ? null : Math.round(newLeaderAt - killAt),
      errorsDuringOutage: errors - errorsBefore,
    };
    progress(`failover ${rep}: ${JSON.stringify(r)}`);
    return r;
  } finally {
    await writer.close();
    await ens.stop();
  }
}

export async function runEnsembleBench(o: EnsembleBenchOptions): Promise<EnsembleBenchResult> {
  const throughput = o.throughput ? await runThroughput(o) : null;
  const reps: FailoverRep[] = [];
  for (let i = 1; i <= o.failoverReps; i++) reps.push(await runFailoverRep(o, i));
  const gaps = reps.map((r) => r.gapMs).sort((a, b) => a - b);
  return {
    bench: 'ensemble',
    nodes: o.nodes,
    tickTime: o.tickTime,
    forceSync: true,
    node: process.version,
    throughput,
    failover: {
      reps,
      gapMedianMs: gaps.length ? gaps[Math.floor((gaps.length - 1) / 2)]! : null,
      gapMinMs: gaps[0] ?? null,
      gapMaxMs: gaps.at(-1) ?? null,
    },
  };
}

export function formatEnsembleBench(r: EnsembleBenchResult): string {
  const lines: string[] = [`${r.nodes} servers, tickTime ${r.tickTime}, forceSync yes, node ${r.node}`];
  const t = r.throughput;
  if (t) {
    lines.push(
      '',
      '| scenario | placement | ops/s | p50 ms | p99 ms | max ms | mean ms | errors | system busy |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      `| set ${t.size} B, ${t.clients}x${t.outstanding}, ${t.seconds} s | ${t.placement} | ${t.opsPerSec} | ${t.p50Ms} | ${t.p99Ms} | ${t.maxMs} | ${t.meanMs} | ${t.errors} | ${t.systemBusyCores ?? '?'}/${t.cores} |`,
    );
  }
  if (r.failover.reps.length) {
    lines.push('', '| rep | killed leader | writer on | gap ms | signal -> first ok ms | signal -> new leader broadcast ms | failed writes |', '|---|---|---|---:|---:|---:|---:|');
    r.failover.reps.forEach((x, i) =>
      lines.push(`| ${i + 1} | ${x.killedLeader} | ${x.writerOn} | ${x.gapMs} | ${x.signalToFirstOkMs} | ${x.signalToNewLeaderMs ?? '?'} | ${x.errorsDuringOutage} |`),
    );
    lines.push(`gap median ${r.failover.gapMedianMs} ms (min ${r.failover.gapMinMs}, max ${r.failover.gapMaxMs})`);
  }
  return lines.join('\n');
}



export function ensembleBenchCommand(): Command {
  return new Command('ensemble')
    .description(
      'a real local ensemble (zab ensemble, fsync on): setData throughput/latency with many requests in flight, then leader kill -9 failover gaps',
    )
    .option('--nodes <n>', 'servers in the ensemble', positiveInt, 3)
    .option('--tick-time <ms>', 'tickTime of the ensemble (zab ensemble default: 500)', positiveInt, 500)
    .option('--seconds <n>', 'measured window of the throughput run', positiveInt, 10)
    .option('--warmup <n>', 'seconds of load before the window', nonNegativeInt, 2)
    .option('--clients <n>', 'client connections, each pinned to one server (followers first)', positiveInt, 4)
    .option('--outstanding <n>', 'setData requests in flight per client', positiveInt, 64)
    .option('--size <bytes>', 'setData value size', positiveInt, 100)
    .option('--failover-reps <n>', 'leader kill -9 repetitions (each on a fresh ensemble); 0 skips', nonNegativeInt, 3)
    .option('--no-throughput', 'skip the throughput run')
    .action(async (o: EnsembleBenchOptions) => {
      const result = await runEnsembleBench(o);
      process.stdout.write(formatEnsembleBench(result) + '\n' + JSON.stringify(result) + '\n');
    });
}
