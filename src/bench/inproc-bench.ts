/**
 * `bench inproc`: an ensemble of N servers and C clients in THIS process (one thread), over real TCP
 * on 127.0.0.1 and real disk with fsync, driven with K setData requests in flight per client. It
 * separates the cost of our code from the cost of crossing processes: CPU per write here is what the
 * servers and clients need when no process ever waits for another to be scheduled. With
 * `--count-macrosteps` it also counts the statechart macrosteps per write, by actor and event type
 * (XState's Actor.prototype._process is wrapped for the measured window).
 * Progress on stderr; a table, then one JSON line, on stdout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import pino from 'pino';
import { Actor } from 'xstate';
import { ZabClient } from '../client/client.js';
import { parseZooCfg } from '../config/index.js';
import { startServer, type ZabServer } from '../server/server.js';
import { positiveInt } from './cli-args.js';
import { freeBasePort } from './ensemble-bench.js';

export interface InprocBenchOptions {
  nodes: number;
  clients: number;
  outstanding: number;
  size: number;
  warmupOps: number;
  ops: number;
  countMacrosteps: boolean;
}

export interface InprocBenchResult {
  bench: 'inproc';
  nodes: number;
  clients: number;
  outstanding: number;
  size: number;
  ops: number;
  seconds: number;
  ops_per_sec: number;
  cpu_us_per_op: number;
  latency_ms: { p50: number; p99: number };
  macrosteps_per_op?: number;
  macrosteps?: Record<string, number>;
}

const progress = (msg: string): void => {
  process.stderr.write(`[bench inproc] ${msg}\n`);
};

type Process = (this: unknown, event: { type: string }) => unknown;

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
  const clients: ZabClient[] = [];
  const proto = Actor.prototype as unknown as { _process: Process };
  const original = proto._process;
  const counts = new Map<string, number>();
  let counting = false;
  // Wrapped before any actor exists: an actor binds _process when it is created.
  if (o.countMacrosteps) {
    proto._process = function (this: unknown, event: { type: string }) {
      if (counting) {
        const actor = this as { logic: { id?: string }; id: string };
        const key = `${actor.logic.id ?? actor.id} ${event.type}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return original.call(this, event);
    };
  }
  try {
    progress(`starting ${o.nodes} servers in this process (data in ${tmp})`);
    for (const id of ids) {
      fs.mkdirSync(path.join(tmp, `s${id}`));
      servers.push(await startServer({ config: parseZooCfg(cfg(id)), id, logger: pino({ level: 'silent' }) }));
    }
    const deadline = Date.now() + 30_000;
    while (!servers.some((s) => s.status().role === 'leading' && s.status().phase === 'broadcast') || servers.some((s) => s.status().phase !== 'broadcast')) {
      if (Date.now() > deadline) throw new Error('the in-process ensemble did not elect a leader within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Clients on followers first, as `zab bench` places them.
    const order = [...servers].sort((a, b) => Number(a.status().role === 'leading') - Number(b.status().role === 'leading'));
    for (let i = 0; i < o.clients; i++) {
      const s = order[i % order.length]!;
      clients.push(new ZabClient({ servers: s.status().clientAddress, shuffle: false }));
    }
    const data = new Uint8Array(o.size);
    const paths = clients.map((_, i) => `/inproc-${i}`);
    await Promise.all(clients.map((c, i) => c.create(paths[i]!, data)));
    const latencies: number[] = [];
    const load = async (n: number, record: boolean): Promise<void> => {
      let left = n;
      await Promise.all(
        clients.flatMap((c, i) =>
          Array.from({ length: o.outstanding }, async () => {
            while (left-- > 0) {
              const t = performance.now();
              await c.setData(paths[i]!, data);
              if (record) latencies.push(performance.now() - t);
            }
          }),
        ),
      );
    };
    progress(`warm-up: ${o.warmupOps} writes`);
    await load(o.warmupOps, false);
    counting = true;
    progress(`measuring: ${o.ops} writes, ${o.clients} client(s) x ${o.outstanding} in flight, ${o.size} B`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await load(o.ops, true);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    counting = false;
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]! * 1000) / 1000;
    const result: InprocBenchResult = {
      bench: 'inproc',
      nodes: o.nodes,
      clients: o.clients,
      outstanding: o.outstanding,
      size: o.size,
      ops: o.ops,
      seconds: Math.round(seconds * 1000) / 1000,
      ops_per_sec: Math.round(o.ops / seconds),
      cpu_us_per_op: Math.round(((cpu.user + cpu.system) / o.ops) * 10) / 10,
      latency_ms: { p50: pct(0.5), p99: pct(0.99) },
    };
    if (o.countMacrosteps) {
      let total = 0;
      for (const n of counts.values()) total += n;
      result.macrosteps_per_op = Math.round((total / o.ops) * 1000) / 1000;
      result.macrosteps = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, Math.round((n / o.ops) * 1000) / 1000]));
    }
    return result;
  } finally {
    proto._process = original;
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function printResult(r: InprocBenchResult): void {
  const lines = [
    `in-process ensemble: ${r.nodes} servers, ${r.clients} client(s) x ${r.outstanding} in flight, setData ${r.size} B, ${r.ops} writes`,
    `  ${r.ops_per_sec.toLocaleString('en-US')} writes/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms`,
    `  CPU per write (servers and clients, all threads of this process): ${r.cpu_us_per_op} us`,
  ];
  if (r.macrosteps) {
    lines.push(`  statechart macrosteps per write: ${r.macrosteps_per_op}`);
    for (const [k, n] of Object.entries(r.macrosteps)) lines.push(`    ${String(n).padStart(7)}  ${k}`);
  }
  process.stdout.write(lines.join('\n') + '\n' + JSON.stringify(r) + '\n');
}

export function inprocBenchCommand(): Command {
  return new Command('inproc')
    .description('servers and clients in one process over real TCP and disk: CPU and statechart macrosteps per write, without the cost of crossing processes')
    .option('--nodes <n>', 'servers', positiveInt, 3)
    .option('--clients <n>', 'clients, on followers first', positiveInt, 4)
    .option('--outstanding <n>', 'setData requests in flight per client', positiveInt, 64)
    .option('--size <bytes>', 'setData value size', positiveInt, 100)
    .option('--warmup-ops <n>', 'writes before the measured ones (JIT warm-up)', positiveInt, 20_000)
    .option('--ops <n>', 'measured writes', positiveInt, 40_000)
    .option('--count-macrosteps', 'count statechart macrosteps per write, by actor and event', false)
    .addHelpText('after', '\nExamples:\n  npm run bench -- inproc\n  npm run bench -- inproc --clients 1 --outstanding 1 --ops 3000 --warmup-ops 500 --count-macrosteps')
    .action(async (opts: InprocBenchOptions) => {
      printResult(await runInprocBench(opts));
    });
}
