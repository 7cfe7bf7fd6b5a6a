/**
 * `zab bench`: a closed-loop load generator over the client protocol, the counterpart of the ZooKeeper
 * anchor's bench/bench.mjs (/work/shared/anchors/zookeeper/bench/bench.mjs): same options, same shape of
 * JSON. C clients, each its own ZabClient pinned to one server (followers first: 4 clients on 3 servers
 * are F F L F), each with K requests in flight (a completion issues the next request at once).
 *   set:    setData(version -1) on a per-slot znode /bench-set/c<i>-<k> (created beforehand)
 *   get:    getData of the same znodes (created with --size bytes; each client syncs first)
 *   mixed:  per slot, alternately getData and setData on those znodes (50 % reads)
 *   create: sequential creates under a fresh parent /bench-create-<ts>; deleted again afterwards (not measured)
 * Only completions inside the measured window (after --warmup) count. CPU of each server process
 * (/proc/<pid>/stat; the pids come from each server's `status`) and of the generator itself, and the
 * generator's event-loop utilisation, over the same window. A progress line about once a second on stderr.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ZabClient, ZabClientError } from '../client/client.js';
import type { ServerStatus } from '../server/client-protocol.js';
import { LocalEnsemble, percentile, statusOf } from './ensemble-bench.js';

export type LoadOp = 'set' | 'create' | 'get' | 'mixed';

export interface LoadOptions {
  /** host:port,... of a running ensemble; or null with `local` */
  servers: string | null;
  /** start a local ensemble of this many servers (in a temp dir) and stop it afterwards */
  local: number | null;
  tickTime: number;
  op: LoadOp;
  size: number;
  clients: number;
  outstanding: number;
  seconds: number;
  warmup: number;
}

export interface ServerCpu {
  serverId: number;
  pid: number;
  role: string;
  address: string;
  /** CPU seconds (user+system) the process used in the measured window; null if /proc could not be read */
  cpu_s: number | null;
  /** cpu_s / window seconds */
  cores: number | null;
}

export interface LoadResult {
  bench: 'zab';
  op: LoadOp;
  size: number;
  clients: number;
  outstanding: number;
  placement: string;
  local: number | null;
  ops: number;
  seconds: number;
  ops_per_sec: number;
  errors: number;
  error_kinds?: Record<string, number>;
  latency_ms: { p50: number | null; p99: number | null; p999: number | null; max: number | null; mean: number | null; max_incl_unwindowed: number };
  drain_ms: number;
  stuck_after_drain: number;
  servers: ServerCpu[];
  generator: { cpu_s: number; cores: number; event_loop_util: number };
  /** the whole machine in the window: busy cores of ncpu */
  system: { busy_cores: number | null; ncpu: number };
  generator_bound: boolean;
  note?: string;
  node: string;
}

const HZ = 100; // USER_HZ on Linux
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 3): number => Math.round(v * 10 ** d) / 10 ** d;

/** utime+stime of a process in seconds, from /proc/<pid>/stat; NaN if unreadable. */
export function procCpuSeconds(pid: number): number {
  if (pid <= 0) return NaN;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / HZ;
  } catch {
    return NaN;
  }
}

const roleRank = (role: string): number => (role === 'following' ? 0 : role === 'leading' ? 1 : 2);
const roleLetter = (role: string): string => (role === 'leading' ? 'L' : role === 'following' ? 'F' : '?');

async function ensureZnode(c: ZabClient, path: string, data: Uint8Array | string): Promise<void> {
  try {
    await c.create(path, data);
  } catch (e) {
    if (!(e instanceof ZabClientError) || e.code !== 'NodeExists') throw e;
    if (typeof data !== 'string' || data.length > 0) await c.setData(path, data);
  }
}

/** busy and total jiffies of the whole machine (/proc/stat); null if unreadable */
function systemTicks(): { busy: number; total: number } | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  } catch {
    return null;
  }
}

export async function runLoad(o: LoadOptions, progress: (line: string) => void): Promise<LoadResult> {
  let ens: LocalEnsemble | null = null;
  if (o.local !== null) {
    progress(`starting a local ${o.local}-server ensemble (tickTime ${o.tickTime})`);
    ens = await LocalEnsemble.start(o.local, o.tickTime);
  }
  const clients: ZabClient[] = [];
  try {
    const addrs = ens ? ens.addrs : o.servers!.split(',').map((s) => s.trim()).filter(Boolean);
    const statuses: ServerStatus[] = await Promise.all(addrs.map((a) => statusOf(a)));
    const order = statuses.map((s, i) => ({ s, addr: addrs[i]! })).sort((x, y) => roleRank(x.s.role) - roleRank(y.s.role));
    const placement = Array.from({ length: o.clients }, (_, i) => order[i % order.length]!);
    progress(`servers: ${order.map((x) => `${x.addr} ${x.s.role} pid ${x.s.pid}`).join(', ')}`);

    for (const p of placement) clients.push(new ZabClient({ servers: p.addr, shuffle: false }));
    const value = new Uint8Array(o.size).fill(0x61);
    const setup = clients[0]!;
    let parent: string;
    if (o.op === 'create') {
      parent = `/bench-create-${Date.now()}`;
      await ensureZnode(setup, parent, '');
    } else {
      parent = '/bench-set';
      await ensureZnode(setup, parent, '');
      const jobs: Promise<void>[] = [];
      for (let c = 0; c < o.clients; c++) for (let k = 0; k < o.outstanding; k++) jobs.push(ensureZnode(setup, `${parent}/c${c}-${k}`, value));
      await Promise.all(jobs);
    }
    // every client's server has applied the setup
    await Promise.all(clients.map((c) => c.sync()));

    let lat = new Float64Array(1 << 20);
    let nLat = 0;
    let ops = 0;
    let errors = 0;
    const errorKinds: Record<string, number> = {};
    let maxAny = 0;
    let inflight = 0;
    let stopping = false;
    let completedTotal = 0;
    const created: string[][] = clients.map(() => []);
    const t0 = performance.now();
    const warmEnd = t0 + o.warmup * 1000;
    const end = warmEnd + o.seconds * 1000;

    const record = (ms: number): void => {
      if (nLat === lat.length) {
        const n = new Float64Array(lat.length * 2);
        n.set(lat);
        lat = n;
      }
      lat[nLat++] = ms;
    };

    const slot = async (ci: number, k: number): Promise<void> => {
      const c = clients[ci]!;
      const path = `${parent}/c${ci}-${k}`;
      let n = 0;
      while (!stopping) {
        inflight++;
        const start = performance.now();
        let err: unknown = null;
        try {
          if (o.op === 'set') await c.setData(path, value);
          else if (o.op === 'get') await c.getData(path);
          else if (o.op === 'mixed') await (n % 2 === 0 ? c.getData(path) : c.setData(path, value));
          else created[ci]!.push((await c.create(`${parent}/n-`, value, { sequential: true })).path);
        } catch (e) {
          err = e;
        }
        n++;
        inflight--;
        completedTotal++;
        const now = performance.now();
        const ms = now - start;
        if (ms > maxAny) maxAny = ms;
        if (now >= warmEnd && now < end) {
          if (err) {
            errors++;
            const kind = err instanceof ZabClientError ? err.code : err instanceof Error ? err.name : String(err);
            errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
          } else {
            ops++;
            record(ms);
          }
        }
        if (err) await sleep(10);
      }
    };

    progress(`${o.op} ${o.size} B, ${o.clients} clients (${placement.map((p) => roleLetter(p.s.role)).join('')}) x ${o.outstanding} in flight, ${o.warmup} s warm-up + ${o.seconds} s`);
    const runs: Promise<void>[] = [];
    for (let ci = 0; ci < o.clients; ci++) for (let k = 0; k < o.outstanding; k++) runs.push(slot(ci, k));

    let lastCount = 0;
    let lastT = t0;
    const ticker = setInterval(() => {
      const now = performance.now();
      const rate = ((completedTotal - lastCount) * 1000) / Math.max(1, now - lastT);
      lastCount = completedTotal;
      lastT = now;
      const phase = now < warmEnd ? 'warm-up' : 'measuring';
      progress(`${((now - t0) / 1000).toFixed(0)} s ${phase}: ${Math.round(rate)} ops/s, ${ops} ops and ${errors} errors in the window`);
    }, 1000);

    // /proc only describes processes on this machine
    const isLocal = (addr: string): boolean => /^(127\.|localhost:|\[?::1\]?:)/.test(addr);
    const pids = statuses.map((s, i) => (isLocal(addrs[i]!) ? s.pid : -1));
    const snap = () => ({
      t: performance.now(),
      elu: performance.eventLoopUtilization(),
      cpu: process.cpuUsage(),
      servers: pids.map(procCpuSeconds),
      sys: systemTicks(),
    });
    await sleep(Math.max(0, warmEnd - performance.now()));
    const s0 = snap();
    await sleep(Math.max(0, end - performance.now()));
    const s1 = snap();
    stopping = true;
    clearInterval(ticker);
    const wall = (s1.t - s0.t) / 1000;
    const drainStart = performance.now();
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(runs), new Promise<void>((r) => (drainTimer = setTimeout(r, 15_000)))]);
    clearTimeout(drainTimer);
    const drainMs = Math.round(performance.now() - drainStart);
    const stuck = inflight;

    if (o.op === 'create') {
      const total = created.reduce((a, l) => a + l.length, 0);
      progress(`deleting the ${total} created znodes (not measured)`);
      await Promise.all(
        clients.map(async (c, ci) => {
          const list = created[ci]!;
          let next = 0;
          const worker = async (): Promise<void> => {
            while (next < list.length) await c.delete(list[next++]!).catch(() => undefined);
          };
          await Promise.all(Array.from({ length: o.outstanding }, worker));
        }),
      );
      await setup.delete(parent).catch(() => undefined);
    }

    const sorted = lat.subarray(0, nLat).sort();
    const arr = Array.from(sorted);
    const q = (p: number): number | null => (nLat === 0 ? null : round(percentile(arr, p)));
    let sum = 0;
    for (const v of sorted) sum += v;
    const genCpu = (s1.cpu.user - s0.cpu.user + s1.cpu.system - s0.cpu.system) / 1e6;
    const elu = performance.eventLoopUtilization(s1.elu, s0.elu).utilization;
    const bound = elu > 0.9;
    const result: LoadResult = {
      bench: 'zab',
      op: o.op,
      size: o.size,
      clients: o.clients,
      outstanding: o.outstanding,
      placement: placement.map((p) => roleLetter(p.s.role)).join(''),
      local: o.local,
      ops,
      seconds: round(wall),
      ops_per_sec: Math.round(ops / wall),
      errors,
      ...(errors ? { error_kinds: errorKinds } : {}),
      latency_ms: {
        p50: q(50),
        p99: q(99),
        p999: q(99.9),
        max: nLat ? round(sorted[nLat - 1]!) : null,
        mean: nLat ? round(sum / nLat) : null,
        max_incl_unwindowed: round(maxAny, 1),
      },
      drain_ms: drainMs,
      stuck_after_drain: stuck,
      servers: statuses.map((s, i) => {
        const d = s1.servers[i]! - s0.servers[i]!;
        const ok = Number.isFinite(d);
        return { serverId: s.serverId, pid: s.pid, role: s.role, address: addrs[i]!, cpu_s: ok ? round(d, 2) : null, cores: ok ? round(d / wall, 2) : null };
      }),
      generator: { cpu_s: round(genCpu, 2), cores: round(genCpu / wall, 2), event_loop_util: round(elu, 2) },
      system: {
        busy_cores: s0.sys && s1.sys && s1.sys.total > s0.sys.total ? round(((s1.sys.busy - s0.sys.busy) / (s1.sys.total - s0.sys.total)) * os.cpus().length, 2) : null,
        ncpu: os.cpus().length,
      },
      generator_bound: bound,
      ...(bound ? { note: `the load generator is the bottleneck: its event loop was ${Math.round(elu * 100)} % busy in the window` } : {}),
      node: process.version,
    };
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    if (ens) {
      progress('stopping the local ensemble');
      await ens.stop();
    }
  }
}
