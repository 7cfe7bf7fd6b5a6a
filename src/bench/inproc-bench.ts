/**
 * `bench inproc`: an ensemble of N servers in THIS process (one thread), over real TCP on 127.0.0.1
 * and real disk with fsync, driven by `zab bench`'s own load generator (runLoad) from the same
 * process. It separates the cost of our code from the cost of crossing processes: the process's CPU
 * per operation is what servers and clients need when no process ever waits for another to be
 * scheduled. With `--count-macrosteps` it also counts the statechart macrosteps per committed txn, by
 * actor and event type, and times each (XState's Actor.prototype._process is wrapped before the
 * servers start; the effects a step runs, ZabNode's execute, are timed apart and subtracted, as are
 * other actors' steps it sets off): what the statecharts cost per write, separate from the runtime.
 * Progress on stderr; a summary, then one JSON line, on stdout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import pino from 'pino';
import { Actor } from 'xstate';
import { parseZooCfg } from '../config/index.js';
import { startServer, type ZabServer } from '../server/server.js';
import { ZabNode } from '../runtime/node.js';
import { counterOf, epochOf, parseZxid, type Zxid } from '../zxid.js';
import { nonNegativeInt, positiveInt } from './cli-args.js';
import { freeBasePort } from './free-ports.js';
import { runLoad, type LoadOp } from './load.js';

export interface InprocBenchOptions {
  nodes: number;
  op: LoadOp;
  clients: number;
  outstanding: number;
  size: number;
  seconds: number;
  warmup: number;
  countMacrosteps: boolean;
}

export interface InprocBenchResult {
  bench: 'inproc';
  nodes: number;
  op: LoadOp;
  clients: number;
  outstanding: number;
  size: number;
  ops: number;
  ops_per_sec: number;
  latency_ms: { p50: number | null; p99: number | null };
  /** CPU of the whole process (servers, clients, every thread) per operation in the measured window */
  cpu_us_per_op: number;
  /** txns committed while counting (warm-up and window) */
  txns_counted?: number;
  macrosteps_per_txn?: number;
  macrosteps?: Record<string, number>;
  /**
   * Wall time per macrostep by actor and event, in µs, without the effects it ran (those are in
   * `effect_us`) and without macrosteps of other actors it set off: what the statechart itself costs.
   */
  macrostep_us?: Record<string, number>;
  /** statechart time (all macrosteps, effects excluded) per committed txn, µs */
  statechart_us_per_txn?: number;
  /** effects run by the runtime (send, append, deliver, propose...) per call, µs, and their total per txn */
  effect_us?: Record<string, number>;
  effects_us_per_txn?: number;
}

const progress = (msg: string): void => {
  process.stderr.write(`[bench inproc] ${msg}\n`);
};

type Process = (this: unknown, event: { type: string }) => unknown;
type Execute = (this: unknown, effect: { type: string; msg?: { type: string } }) => unknown;

const appliedOf = (servers: readonly ZabServer[]): Zxid => {
  const leader = servers.find((s) => s.status().role === 'leading') ?? servers[0]!;
  return parseZxid(leader.status().lastApplied);
};

export async function runInprocBench(o: InprocBenchOptions): Promise<InprocBenchResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-inproc-'));
  const base = await freeBasePort(o.nodes);
  const ids = Array.from({ length: o.nodes }, (_, i) => i + 1);
  const cfg = (id: number): string =>
    [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${path.join(tmp, `s${id}`)}`,
      ...ids.map((i) => `server.${i}=127.0.0.1:${base + 99 + i}:${base + 199 + i};127.0.0.1:${base + i - 1}`),
    ].join('\n');
  const servers: ZabServer[] = [];
  const proto = Actor.prototype as unknown as { _process: Process };
  const original = proto._process;
  const nodeProto = ZabNode.prototype as unknown as { execute: Execute };
  const originalExecute = nodeProto.execute;
  const counts = new Map<string, number>();
  const selfMs = new Map<string, number>();
  const effects = new Map<string, { n: number; ms: number }>();
  // Time spent in nested work (effects, other actors' macrosteps), to subtract from the enclosing step.
  const nested: number[] = [];
  let counting = false;
  // Wrapped before any actor exists: an actor binds _process when it is created.
  if (o.countMacrosteps) {
    proto._process = function (this: unknown, event: { type: string }) {
      if (!counting) return original.call(this, event);
      const actor = this as { logic: { id?: string }; id: string };
      const key = `${actor.logic.id ?? actor.id} ${event.type}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      nested.push(0);
      const t0 = performance.now();
      try {
        return original.call(this, event);
      } finally {
        const took = performance.now() - t0;
        const inner = nested.pop()!;
        if (nested.length > 0) nested[nested.length - 1]! += took;
        selfMs.set(key, (selfMs.get(key) ?? 0) + took - inner);
      }
    };
    nodeProto.execute = function (this: unknown, e: { type: string; msg?: { type: string } }) {
      if (!counting) return originalExecute.call(this, e);
      const t0 = performance.now();
      try {
        return originalExecute.call(this, e);
      } finally {
        const took = performance.now() - t0;
        if (nested.length > 0) nested[nested.length - 1]! += took;
        const key = e.msg ? `${e.type} ${e.msg.type}` : e.type;
        const s = effects.get(key) ?? { n: 0, ms: 0 };
        s.n++;
        s.ms += took;
        effects.set(key, s);
      }
    };
  }
  try {
    progress(`starting ${o.nodes} servers in this process (data in ${tmp})`);
    for (const id of ids) {
      fs.mkdirSync(path.join(tmp, `s${id}`));
      servers.push(await startServer({ config: parseZooCfg(cfg(id)), id, logger: pino({ level: 'silent' }) }));
    }
    const deadline = Date.now() + 30_000;
    while (servers.some((s) => s.status().phase !== 'broadcast') || !servers.some((s) => s.status().role === 'leading')) {
      if (Date.now() > deadline) throw new Error('the in-process ensemble did not elect a leader within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const before = appliedOf(servers);
    counting = true;
    const load = await runLoad(
      { servers: servers.map((s) => s.status().clientAddress).join(','), local: null, tickTime: 500, op: o.op, size: o.size, clients: o.clients, outstanding: o.outstanding, seconds: o.seconds, warmup: o.warmup },
      progress,
    );
    counting = false;
    const after = appliedOf(servers);
    // txns of the current epoch since `before` (a fresh ensemble starts its first epoch at counter 1)
    const txns = counterOf(after) - (epochOf(before) === epochOf(after) ? counterOf(before) : 0);
    const result: InprocBenchResult = {
      bench: 'inproc',
      nodes: o.nodes,
      op: o.op,
      clients: o.clients,
      outstanding: o.outstanding,
      size: o.size,
      ops: load.ops,
      ops_per_sec: load.ops_per_sec,
      latency_ms: { p50: load.latency_ms.p50, p99: load.latency_ms.p99 },
      // runLoad's "generator" is this whole process here: servers and clients together
      cpu_us_per_op: load.ops > 0 ? Math.round((load.generator.cpu_s * 1e6) / load.ops) : 0,
    };
    if (o.countMacrosteps && txns > 0) {
      let total = 0;
      for (const n of counts.values()) total += n;
      const per = (n: number): number => Math.round((n / txns) * 1000) / 1000;
      result.txns_counted = txns;
      result.macrosteps_per_txn = per(total);
      result.macrosteps = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, per(n)]));
      const us = (ms: number, n: number): number => Math.round((ms * 1000 * 10) / n) / 10;
      result.macrostep_us = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, us(selfMs.get(k) ?? 0, n)]));
      let sm = 0;
      for (const ms of selfMs.values()) sm += ms;
      result.statechart_us_per_txn = us(sm, txns);
      result.effect_us = Object.fromEntries([...effects].sort((a, b) => b[1].ms - a[1].ms).map(([k, e]) => [k, us(e.ms, e.n)]));
      let em = 0;
      for (const e of effects.values()) em += e.ms;
      result.effects_us_per_txn = us(em, txns);
    }
    return result;
  } finally {
    proto._process = original;
    nodeProto.execute = originalExecute;
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function printResult(r: InprocBenchResult): void {
  const lines = [
    `in-process ensemble: ${r.nodes} servers, ${r.op} ${r.size} B, ${r.clients} client(s) x ${r.outstanding} in flight`,
    `  ${r.ops_per_sec.toLocaleString('en-US')} ops/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms`,
    `  CPU per op (servers and clients, all threads of this process): ${r.cpu_us_per_op} us`,
  ];
  if (r.macrosteps) {
    lines.push(`  statechart macrosteps per committed txn (${r.txns_counted} txns): ${r.macrosteps_per_txn}, per macrostep (us, effects excluded):`);
    for (const [k, n] of Object.entries(r.macrosteps)) lines.push(`    ${String(n).padStart(7)}  ${String(r.macrostep_us?.[k] ?? '').padStart(7)} us  ${k}`);
    lines.push(`  statechart time per txn: ${r.statechart_us_per_txn} us; effects run by the runtime per txn: ${r.effects_us_per_txn} us (per call:)`);
    for (const [k, v] of Object.entries(r.effect_us ?? {})) lines.push(`    ${String(v).padStart(7)} us  ${k}`);
  }
  process.stdout.write(lines.join('\n') + '\n' + JSON.stringify(r) + '\n');
}

export function inprocBenchCommand(): Command {
  return new Command('inproc')
    .description('servers and the load generator in one process over real TCP and disk: CPU and statechart macrosteps per write, without the cost of crossing processes')
    .option('--nodes <n>', 'servers', positiveInt, 3)
    .addOption(new Option('--op <op>', 'as zab bench --op').choices(['set', 'create', 'get', 'mixed']).default('set'))
    .option('--clients <n>', 'clients, on followers first', positiveInt, 4)
    .option('--outstanding <n>', 'requests in flight per client', positiveInt, 64)
    .option('--size <bytes>', 'value size', positiveInt, 100)
    .option('--seconds <s>', 'measured window', positiveInt, 5)
    .option('--warmup <s>', 'seconds of load before the window (JIT warm-up)', nonNegativeInt, 3)
    .option('--count-macrosteps', 'count and time statechart macrosteps per committed txn, by actor and event (and the effects they run)', false)
    .addHelpText('after', '\nExamples:\n  npm run bench -- inproc\n  npm run bench -- inproc --clients 1 --outstanding 1 --count-macrosteps')
    .action(async (opts: InprocBenchOptions) => {
      printResult(await runInprocBench(opts));
    });
}
