/**
 * `bench cost`: the scale and cost figures of a real local ensemble (`zab ensemble`, one process per
 * server on 127.0.0.1, fsync on), driven through the client library:
 *  - memory: a fresh ensemble is loaded with N znodes of `size` bytes (multi ops of `multi` creates,
 *    many in flight); the load's duration and rate, and each server's RSS and heap before the load, just
 *    after it and after a settle pause; bytes per znode;
 *  - DIFF catch-up and restart from the whole log: a fresh ensemble with snapshots off (snapCount huge).
 *    Follower F is stopped, N txns (single creates, many in flight) go to the others, F is restarted:
 *    time until it is in broadcast phase with lastApplied equal to the leader's. Then follower G (up
 *    throughout, its log holds every txn and there is no snapshot) is stopped and restarted: time until
 *    it serves again, broken down into opening storage, reading the log and applying it;
 *  - SNAP catch-up and restart from a snapshot: the same on a fresh ensemble with a small snapCount, so
 *    the leader has taken several snapshots (and purged its log) past F's position while F was down.
 * Which sync the leader chose is read from its pino log ("sync learner N by DIFF|SNAP|TRUNC", and the
 * runtime's "log purged below the sync point; sending SNAP"); the restarted server's own log gives the
 * recovery breakdown ("recovered" and "server started" lines).
 * Progress goes to stderr; a table, then one JSON line, to stdout.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { ZabClient, ZabClientError, type MultiOpInput } from '../client/client.js';
import type { ServerStatus } from '../server/client-protocol.js';
import { LocalEnsemble, statusOf } from './ensemble-bench.js';
import { procCpuSeconds } from './load.js';
import { positiveInt, nonNegativeInt } from './cli-args.js';

const progress = (msg: string): void => {
  process.stderr.write(`[bench cost] ${msg}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
/** snapCount that never triggers a snapshot within a run (zab ensemble accepts up to 100,000,000) */
const NO_SNAPSHOTS = 100_000_000;

export interface CostBenchOptions {
  znodes: number;
  txns: number;
  nodes: number;
  tickTime: number;
  size: number;
  /** creates per multi in the memory load */
  multi: number;
  clients: number;
  /** multi requests in flight per client (memory load) */
  multiOutstanding: number;
  /** single creates in flight per client (txn loads) */
  outstanding: number;
  /** snapCount of the SNAP ensemble; default min(100,000, ceil(txns / 5)) */
  snapCount?: number;
  settle: number;
  timeout: number;
  dir?: string;
  keep: boolean;
  memory: boolean;
  diff: boolean;
  snap: boolean;
}

export interface LoadStats {
  what: string;
  znodes: number;
  txns: number;
  seconds: number;
  znodesPerSec: number;
  txnsPerSec: number;
  errorsRetried: number;
  /** codes of the errors that made a request be re-sent */
  errorKinds: Record<string, number>;
  /** CPU of this (client) process over the load, in cores */
  clientCores: number;
  /** CPU of each server process over the load, in cores (leader first) */
  serverCores: { serverId: number; role: string; cores: number | null }[];
  /** CPU time of all servers together per znode created, in microseconds (less sensitive to other load on the machine than rates) */
  serverCpuUsPerZnode: number | null;
  /** the server that used the most CPU; the client is the limit only if it used more than that */
  boundBy: 'client' | 'server';
}

export interface MemorySample {
  serverId: number;
  role: string;
  pid: number;
  znodes: number;
  rssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  /** peak RSS of the process so far (VmHWM) */
  peakRssMB: number | null;
}

export interface MemoryResult {
  znodes: number;
  size: number;
  load: LoadStats;
  before: MemorySample[];
  afterLoad: MemorySample[];
  settled: MemorySample[];
  settleSeconds: number;
  /** per server, settled: RSS / znodes, and (RSS - RSS before the load) / znodes; same for heapUsed */
  perZnode: { serverId: number; role: string; rssBytes: number; rssDeltaBytes: number; heapUsedDeltaBytes: number }[];
}

export interface RejoinResult {
  kind: 'catch-up' | 'restart';
  serverId: number;
  /** sync the leader chose for this server (and how many sync attempts it took) */
  mode: string;
  syncAttempts: number;
  /** txns the server missed (catch-up) or had in its log above its snapshot (restart) */
  txns: number;
  snapshotZxid: string | null;
  snapshotMB: number | null;
  logTailTxns: number | null;
  /** ms after spawning the process */
  processUpMs: number | null;
  openStorageMs: number | null;
  snapshotReadMs: number | null;
  snapshotRestoreMs: number | null;
  logReadMs: number | null;
  recoveredAtMs: number | null;
  clientPortAtMs: number | null;
  syncStartAtMs: number | null;
  broadcastAtMs: number | null;
  caughtUpAtMs: number | null;
  readOkAtMs: number | null;
  /** how long the clean stop (SIGTERM) before it took */
  stopMs: number;
  rssMB: number | null;
  peakRssMB: number | null;
  /** epochs established by the other servers meanwhile (0: the leader kept its quorum throughout) */
  elections: number;
  /** set when the server was not caught up within --timeout (the times are then null or partial) */
  error?: string;
}

export interface SyncPhaseResult {
  ensemble: 'diff' | 'snap';
  snapCount: number;
  txns: number;
  load: LoadStats;
  /** epochs established while the txns were loaded (each one: the leader lost its quorum, e.g. a server stalled past syncLimit) */
  electionsDuringLoad: number;
  leaderSnapshotsTaken: number;
  leaderMemory: MemorySample | null;
  catchUp: RejoinResult;
  restart: RejoinResult;
}

export interface CostBenchResult {
  bench: 'cost';
  nodes: number;
  tickTime: number;
  forceSync: true;
  size: number;
  node: string;
  cores: number;
  loadavg: number[];
  memory: MemoryResult | null;
  diff: SyncPhaseResult | null;
  snap: SyncPhaseResult | null;
  /** phases that failed as a whole (the others still ran) */
  failures: { phase: string; error: string }[];
}

/* ---------- pure helpers (unit-tested) ---------- */

export interface LogLine {
  time: number;
  pid?: number;
  msg: string;
  [k: string]: unknown;
}

/** The pino JSON lines of a server log (other lines skipped), optionally only those of process `pid`. */
export function parseLogLines(text: string, pid?: number): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      continue;
    }
    if (!v || typeof v !== 'object') continue;
    const line = v as LogLine;
    if (typeof line.time !== 'number' || typeof line.msg !== 'string') continue;
    if (pid !== undefined && line.pid !== pid) continue;
    out.push(line);
  }
  return out;
}

/**
 * The sync a leader gave learner `sid` (from its log lines since `since`): the plan of the last
 * "sync learner <sid> by X" line, overridden by the runtime's SNAP fallback when the log was purged
 * below the learner's position. attempts counts the sync lines (more than one: a sync was retried).
 */
export function syncModeFor(leaderLines: readonly LogLine[], sid: number, since = 0): { mode: string; attempts: number; firstAt: number | null } {
  let mode = '?';
  let attempts = 0;
  let firstAt: number | null = null;
  // The runtime logs its fallback while carrying out the plan, just before the statechart logs the plan.
  let purged = false;
  for (const l of leaderLines) {
    if (l.time < since) continue;
    const m = /^sync learner (\d+) by (\w+)$/.exec(l.msg);
    if (m && Number(m[1]) === sid) {
      attempts++;
      firstAt ??= l.time;
      mode = purged ? `SNAP (log purged; planned ${m[2]!})` : m[2]!;
      purged = false;
    } else if (l.msg.startsWith('log purged below the sync point') && l.peer === sid) {
      purged = true;
    }
  }
  return { mode, attempts, firstAt };
}

/** Leader elections in a time window: epochs established ("established epoch N" lines of the leaders). */
export function countElections(lines: readonly LogLine[], from: number, to: number): number {
  return lines.filter((l) => l.time >= from && l.time <= to && l.msg.startsWith('established epoch ')).length;
}

/** Compares two formatted zxids ("0x…"). */
export function zxidGte(a: string, b: string): boolean {
  return BigInt(a) >= BigInt(b);
}

/** Paths of a load: `<prefix>/n<i>`, i from `from`, `count` of them. */
export function loadPaths(prefix: string, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, k) => `${prefix}/n${from + k}`);
}

/** The default snapCount of the SNAP ensemble: at least five snapshots during the txn load, at most ZooKeeper's 100,000. */
export function defaultSnapCount(txns: number): number {
  return Math.max(2, Math.min(100_000, Math.ceil(txns / 5)));
}

/** Bytes per znode of a settled sample against the one before loading. */
export function perZnodeBytes(before: MemorySample, settled: MemorySample, znodes: number): { rssBytes: number; rssDeltaBytes: number; heapUsedDeltaBytes: number } {
  const n = Math.max(1, znodes);
  return {
    rssBytes: Math.round((settled.rssMB * MB) / n),
    rssDeltaBytes: Math.round(((settled.rssMB - before.rssMB) * MB) / n),
    heapUsedDeltaBytes: Math.round(((settled.heapUsedMB - before.heapUsedMB) * MB) / n),
  };
}

const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;

/* ---------- processes and measurements ---------- */

function procStatusKb(pid: number, field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function memorySample(addr: string): Promise<MemorySample> {
  const st = await statusOf(addr);
  const m = st.memory;
  const hwm = procStatusKb(st.pid, 'VmHWM');
  const rssKb = procStatusKb(st.pid, 'VmRSS');
  return {
    serverId: st.serverId,
    role: st.role,
    pid: st.pid,
    znodes: st.znodes ?? 0,
    rssMB: round(rssKb !== null ? rssKb / 1024 : (m?.rss ?? 0) / MB),
    heapUsedMB: round((m?.heapUsed ?? NaN) / MB),
    heapTotalMB: round((m?.heapTotal ?? NaN) / MB),
    externalMB: round((m?.external ?? NaN) / MB),
    peakRssMB: hwm === null ? null : round(hwm / 1024),
  };
}

const roleRank = (role: string): number => (role === 'leading' ? 0 : role === 'following' ? 1 : 2);

function sortByRole<T extends { role: string; serverId: number }>(xs: T[]): T[] {
  return [...xs].sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.serverId - b.serverId);
}

/** A client that keeps retrying to reach one server (for polling a server that is starting). */
function pollingClient(addr: string, requestTimeoutMs: number): ZabClient {
  return new ZabClient({ servers: addr, shuffle: false, requestTimeoutMs, connectTimeoutMs: 500, backoffMinMs: 10, backoffMaxMs: 50 });
}

/**
 * Creates `count` znodes `<prefix>/n<i>` of `size` bytes: `perOp` per request (1: single creates, more:
 * multi), `outstanding` requests in flight on each of `clients` connections spread over `addrs`
 * (followers first). A request whose outcome is unknown is re-sent; NodeExists then means it was applied.
 */
async function loadZnodes(
  what: string,
  addrs: { addr: string; role: string; serverId: number; pid: number }[],
  o: { prefix: string; count: number; perOp: number; clients: number; outstanding: number; size: number },
): Promise<LoadStats> {
  const order = [...addrs].sort((a, b) => (a.role === 'following' ? 0 : 1) - (b.role === 'following' ? 0 : 1) || a.serverId - b.serverId);
  const clients = Array.from({ length: o.clients }, (_, i) => new ZabClient({ servers: order[i % order.length]!.addr, shuffle: false, requestTimeoutMs: 60_000 }));
  const value = new Uint8Array(o.size).fill(0x61);
  const requests = Math.ceil(o.count / o.perOp);
  let next = 0;
  let done = 0;
  let retried = 0;
  const errorKinds: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const srv0 = addrs.map((a) => procCpuSeconds(a.pid));
  const t0 = performance.now();
  let lastReport = t0;
  const slot = async (c: ZabClient): Promise<void> => {
    for (;;) {
      const r = next++;
      if (r >= requests) return;
      const from = r * o.perOp;
      const paths = loadPaths(o.prefix, from, Math.min(o.perOp, o.count - from));
      for (let attempt = 1; ; attempt++) {
        try {
          if (paths.length === 1) await c.create(paths[0]!, value);
          else await c.multi(paths.map((p): MultiOpInput => ({ op: 'create', path: p, data: value })));
          break;
        } catch (e) {
          // a re-sent request that finds its znodes was applied the first time (multi is all or nothing)
          if (attempt > 1 && e instanceof ZabClientError && e.code === 'NodeExists') break;
          if (attempt >= 5) throw e;
          retried++;
          const kind = e instanceof ZabClientError ? e.code : 'other';
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
          await sleep(100 * attempt);
        }
      }
      done += paths.length;
      const now = performance.now();
      if (now - lastReport >= 5000) {
        lastReport = now;
        progress(`${what}: ${done.toLocaleString('en-US')}/${o.count.toLocaleString('en-US')} znodes, ${Math.round(done / ((now - t0) / 1000)).toLocaleString('en-US')}/s`);
      }
    }
  };
  try {
    await Promise.all(clients.flatMap((c) => Array.from({ length: o.outstanding }, () => slot(c))));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const clientCores = (cpu.user + cpu.system) / 1e6 / seconds;
  let serverCpu = 0;
  const serverCores = addrs.map((a, i) => {
    const c = procCpuSeconds(a.pid) - srv0[i]!;
    serverCpu += c;
    return { serverId: a.serverId, role: a.role, cores: Number.isFinite(c) ? round(c / seconds, 2) : null };
  });
  const maxServer = Math.max(0, ...serverCores.map((s) => s.cores ?? 0));
  return {
    what,
    znodes: o.count,
    txns: requests,
    seconds: round(seconds, 2),
    znodesPerSec: Math.round(o.count / seconds),
    txnsPerSec: Math.round(requests / seconds),
    errorsRetried: retried,
    errorKinds,
    clientCores: round(clientCores, 2),
    serverCores: sortByRole(serverCores),
    serverCpuUsPerZnode: Number.isFinite(serverCpu) ? round((serverCpu * 1e6) / o.count, 1) : null,
    boundBy: clientCores > maxServer ? 'client' : 'server',
  };
}

async function liveServers(ens: LocalEnsemble, ids?: number[]): Promise<{ addr: string; role: string; serverId: number; pid: number; st: ServerStatus }[]> {
  const out = [];
  for (let i = 0; i < ens.addrs.length; i++) {
    if (ids && !ids.includes(i + 1)) continue;
    const st = await statusOf(ens.addrs[i]!);
    out.push({ addr: ens.addrs[i]!, role: st.role, serverId: st.serverId, pid: st.pid, st });
  }
  return out;
}

async function readLog(ens: LocalEnsemble, id: number, pid?: number): Promise<LogLine[]> {
  return parseLogLines(await fsp.readFile(ens.logFile(id), 'utf8'), pid);
}

/** The log lines of every server but `except`, merged in time order. */
async function peerLogs(ens: LocalEnsemble, except?: number): Promise<LogLine[]> {
  const all: LogLine[] = [];
  for (let id = 1; id <= ens.addrs.length; id++) if (id !== except) all.push(...(await readLog(ens, id)));
  return all.sort((a, b) => a.time - b.time);
}

/** Waits until every server of `addrs` reports broadcast phase and lastApplied >= zxid. */
async function waitApplied(addrs: string[], zxid: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(addrs.map((a) => statusOf(a).catch(() => null)));
    if (st.every((s) => s && s.phase === 'broadcast' && zxidGte(s.lastApplied, zxid))) return;
    if (Date.now() > end) throw new Error(`servers did not apply ${zxid} within ${timeoutMs} ms: ${JSON.stringify(st.map((s) => s && [s.serverId, s.phase, s.lastApplied]))}`);
    await sleep(100);
  }
}

/**
 * Restarts server `id` (stopped before) and measures until it is in broadcast phase with lastApplied
 * >= `target` and a read of `lastPath` through it succeeds. Timestamps come from this process (spawn,
 * status polls every 25 ms) and from the pino lines of the new process and of the leader.
 */
async function rejoin(
  ens: LocalEnsemble,
  kind: RejoinResult['kind'],
  id: number,
  target: string,
  lastPath: string,
  txns: number,
  stopMs: number,
  timeoutMs: number,
): Promise<RejoinResult> {
  const addr = ens.addrs[id - 1]!;
  const { pid, spawnedAt } = ens.restartServer(id);
  progress(`${kind}: server ${id} restarted (pid ${pid}); waiting until it has applied ${target}`);
  const poll = pollingClient(addr, 5000);
  let broadcastSeenAt: number | null = null;
  let caughtUpAt: number | null = null;
  let lastSeen = '';
  let error: string | undefined;
  try {
    const end = spawnedAt + timeoutMs;
    let lastReport = Date.now();
    while (caughtUpAt === null) {
      if (Date.now() > end) throw new Error(`server ${id} not caught up within ${timeoutMs} ms (last status: ${lastSeen || 'none'}); see ${ens.logFile(id)}`);
      try {
        const st = await poll.status();
        lastSeen = `${st.role} ${st.phase} lastApplied ${st.lastApplied}`;
        if (st.phase === 'broadcast') {
          broadcastSeenAt ??= Date.now();
          if (zxidGte(st.lastApplied, target)) caughtUpAt = Date.now();
        }
      } catch {
        // not listening yet, or busy: try again
      }
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        progress(`${kind}: server ${id} after ${Math.round((Date.now() - spawnedAt) / 1000)} s: ${lastSeen || 'not answering yet'}`);
      }
      if (caughtUpAt === null) await sleep(25);
    }
    await poll.getData(lastPath);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    progress(`${kind}: server ${id} FAILED: ${error}`);
  } finally {
    await poll.close();
  }
  const readOkAt = error === undefined ? Date.now() : null;
  const mem = await memorySample(addr).catch(() => null);

  const own = await readLog(ens, id, pid);
  // Whoever leads (leadership may move while the server rejoins) logs the syncs it sends.
  const others = await peerLogs(ens, id);
  const rel = (t: number | null | undefined): number | null => (typeof t === 'number' ? t - spawnedAt : null);
  const recovered = own.find((l) => l.msg === 'recovered');
  const started = own.find((l) => l.msg === 'server started');
  const bcast = own.find((l) => l.msg === 'role' && l.phase === 'broadcast');
  const ms = (recovered?.ms ?? {}) as Record<string, number>;
  const startMs = (started?.startMs ?? {}) as Record<string, number>;
  const sync = syncModeFor(others, id, spawnedAt);
  const snapshotZxid = typeof recovered?.snapshot === 'string' && recovered.snapshot !== '0x0' ? recovered.snapshot : null;
  return {
    kind,
    serverId: id,
    mode: sync.mode,
    syncAttempts: sync.attempts,
    txns,
    snapshotZxid,
    snapshotMB: typeof recovered?.snapshotBytes === 'number' ? round(recovered.snapshotBytes / MB) : null,
    logTailTxns: typeof recovered?.unapplied === 'number' ? recovered.unapplied : null,
    processUpMs: started && typeof startMs.total === 'number' ? started.time - startMs.total - spawnedAt : null,
    openStorageMs: startMs.openStorage ?? null,
    snapshotReadMs: ms.snapshotRead ?? null,
    snapshotRestoreMs: ms.snapshotRestore ?? null,
    logReadMs: ms.logRead ?? null,
    recoveredAtMs: rel(recovered?.time),
    clientPortAtMs: rel(started?.time),
    syncStartAtMs: rel(sync.firstAt),
    broadcastAtMs: rel(bcast?.time ?? broadcastSeenAt),
    caughtUpAtMs: rel(caughtUpAt),
    readOkAtMs: rel(readOkAt),
    stopMs,
    rssMB: mem?.rssMB ?? null,
    peakRssMB: mem?.peakRssMB ?? null,
    elections: countElections(others, spawnedAt, Date.now()),
    ...(error !== undefined ? { error } : {}),
  };
}

async function runMemory(o: CostBenchOptions): Promise<MemoryResult> {
  progress(`memory: starting a ${o.nodes}-server ensemble (tickTime ${o.tickTime}, snapCount default)`);
  const ens = await startEnsemble(o, {});
  try {
    const servers = await liveServers(ens);
    const before = sortByRole(await Promise.all(ens.addrs.map(memorySample)));
    const setup = new ZabClient({ servers: ens.addrs.join(',') });
    await setup.create('/m', '');
    await setup.close();
    progress(`memory: creating ${o.znodes.toLocaleString('en-US')} znodes of ${o.size} B, multi of ${o.multi}, ${o.clients} clients x ${o.multiOutstanding} in flight`);
    const load = await loadZnodes('memory load', servers, { prefix: '/m', count: o.znodes, perOp: o.multi, clients: o.clients, outstanding: o.multiOutstanding, size: o.size });
    progress(`memory: loaded in ${load.seconds} s (${load.znodesPerSec.toLocaleString('en-US')} znodes/s); waiting for every server to apply it`);
    const leader = servers.find((s) => s.role === 'leading')!;
    await waitApplied(ens.addrs, (await statusOf(leader.addr)).lastApplied, o.timeout * 1000);
    const afterLoad = sortByRole(await Promise.all(ens.addrs.map(memorySample)));
    progress(`memory: settling ${o.settle} s`);
    await sleep(o.settle * 1000);
    const settled = sortByRole(await Promise.all(ens.addrs.map(memorySample)));
    const perZnode = settled.map((s) => ({ serverId: s.serverId, role: s.role, ...perZnodeBytes(before.find((b) => b.serverId === s.serverId)!, s, o.znodes) }));
    return { znodes: o.znodes, size: o.size, load, before, afterLoad, settled, settleSeconds: o.settle, perZnode };
  } finally {
    await stopEnsemble(ens);
  }
}

/** Ensembles running now (stopped on SIGINT/SIGTERM). */
const LIVE = new Set<LocalEnsemble>();

async function startEnsemble(o: CostBenchOptions, extra: { snapCount?: number }): Promise<LocalEnsemble> {
  const ens = await LocalEnsemble.start(o.nodes, o.tickTime, { ...extra, ...(o.dir ? { parentDir: o.dir } : {}), keepDir: o.keep });
  LIVE.add(ens);
  if (o.keep) progress(`data and server logs in ${ens.dir}`);
  return ens;
}

async function stopEnsemble(ens: LocalEnsemble): Promise<void> {
  progress('stopping the ensemble');
  await ens.stop();
  LIVE.delete(ens);
}

function stopAllAndExit(): void {
  void Promise.all([...LIVE].map((e) => e.stop().catch(() => undefined))).then(() => process.exit(130));
}

/** The leader among servers `ids` (waits through an election in progress). */
async function currentLeader(ens: LocalEnsemble, ids: number[], timeoutMs: number): Promise<{ addr: string; serverId: number }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(ids.map((i) => statusOf(ens.addrs[i - 1]!).catch(() => null)));
    const l = st.find((x) => x?.role === 'leading' && x.phase === 'broadcast');
    if (l) return { addr: ens.addrs[l.serverId - 1]!, serverId: l.serverId };
    if (Date.now() > end) throw new Error(`no leader in broadcast phase among servers ${ids.join(', ')}`);
    await sleep(100);
  }
}

async function countSnapshots(dir: string): Promise<number> {
  return (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => /^snapshot\.[0-9a-f]+$/.test(n)).length;
}

async function runSyncPhase(o: CostBenchOptions, which: 'diff' | 'snap'): Promise<SyncPhaseResult> {
  const snapCount = which === 'diff' ? NO_SNAPSHOTS : (o.snapCount ?? defaultSnapCount(o.txns));
  const tag = which === 'diff' ? 'DIFF ensemble' : 'SNAP ensemble';
  progress(`${tag}: starting a ${o.nodes}-server ensemble (tickTime ${o.tickTime}, snapCount ${snapCount.toLocaleString('en-US')})`);
  const ens = await startEnsemble(o, { snapCount });
  try {
    const all = await liveServers(ens);
    const leader = all.find((s) => s.role === 'leading');
    const followers = all.filter((s) => s.role === 'following').sort((a, b) => a.serverId - b.serverId);
    if (!leader || followers.length < 2) throw new Error(`need a leader and two followers, got ${all.map((s) => `${s.serverId}:${s.role}`).join(' ')}`);
    const f = followers[0]!;

    // A little shared history first, so F does not start from an empty log.
    const setup = new ZabClient({ servers: ens.addrs.join(',') });
    await setup.create('/t', '');
    await setup.create('/t/pre', '');
    await setup.close();
    await loadZnodes(`${tag} pre-load`, [leader], { prefix: '/t/pre', count: 100, perOp: 1, clients: 1, outstanding: 10, size: o.size });
    await waitApplied(ens.addrs, (await statusOf(leader.addr)).lastApplied, 30_000);

    progress(`${tag}: stopping follower ${f.serverId}`);
    let t = performance.now();
    await ens.stopServer(f.serverId, f.pid);
    const fStopMs = Math.round(performance.now() - t);

    const liveIds = all.filter((s) => s.serverId !== f.serverId).map((s) => s.serverId);
    progress(`${tag}: ${o.txns.toLocaleString('en-US')} single creates of ${o.size} B while server ${f.serverId} is down (${o.clients} clients x ${o.outstanding} in flight)`);
    const loadFrom = Date.now();
    const load = await loadZnodes(`${tag} txn load`, all.filter((s) => s.serverId !== f.serverId), {
      prefix: '/t',
      count: o.txns,
      perOp: 1,
      clients: o.clients,
      outstanding: o.outstanding,
      size: o.size,
    });
    const electionsDuringLoad = countElections(await peerLogs(ens), loadFrom, Date.now());
    progress(`${tag}: loaded in ${load.seconds} s (${load.txnsPerSec.toLocaleString('en-US')} txns/s), ${electionsDuringLoad} leader elections meanwhile`);
    // Leadership may have moved during the load (an election): find the leader again.
    const leaderNow = await currentLeader(ens, liveIds, o.timeout * 1000);
    const target = (await statusOf(leaderNow.addr)).lastApplied;
    await waitApplied(liveIds.map((i) => ens.addrs[i - 1]!), target, o.timeout * 1000);
    const leaderMemory = await memorySample(leaderNow.addr).catch(() => null);
    const leaderSnapshotsTaken = (await readLog(ens, leaderNow.serverId)).filter((l) => l.msg === 'snapshot written').length;
    progress(`${tag}: leader ${leaderNow.serverId} at ${target}, ${leaderSnapshotsTaken} snapshots written, ${await countSnapshots(ens.serverDir(leaderNow.serverId))} kept`);

    const lastPath = loadPaths('/t', o.txns - 1, 1)[0]!;
    const catchUp = await rejoin(ens, 'catch-up', f.serverId, target, lastPath, o.txns, fStopMs, o.timeout * 1000);
    progress(`${tag}: catch-up ${JSON.stringify(catchUp)}`);
    if (catchUp.error) {
      // A follower stuck in sync keeps disturbing the others (a new sync, often an election, per attempt): stop it.
      const st = await statusOf(ens.addrs[f.serverId - 1]!).catch(() => null);
      if (st) await ens.stopServer(f.serverId, st.pid);
      await currentLeader(ens, liveIds, o.timeout * 1000);
    }

    // Restart G, a follower that was up throughout: its own log (and, in the SNAP ensemble, its own snapshots) hold everything.
    const g = (await liveServers(ens, liveIds)).find((s) => s.role === 'following');
    if (!g) throw new Error(`no follower besides server ${f.serverId} to restart`);
    progress(`${tag}: stopping follower ${g.serverId} to restart it`);
    t = performance.now();
    await ens.stopServer(g.serverId, g.pid);
    const gStopMs = Math.round(performance.now() - t);
    const restart = await rejoin(ens, 'restart', g.serverId, target, lastPath, o.txns, gStopMs, o.timeout * 1000);
    progress(`${tag}: restart ${JSON.stringify(restart)}`);
    return { ensemble: which, snapCount, txns: o.txns, load, electionsDuringLoad, leaderSnapshotsTaken, leaderMemory, catchUp, restart };
  } finally {
    await stopEnsemble(ens);
  }
}

export async function runCostBench(o: CostBenchOptions): Promise<CostBenchResult> {
  if ((o.diff || o.snap) && o.nodes < 3) throw new Error('the catch-up and restart phases need --nodes 3 or more');
  const failures: CostBenchResult['failures'] = [];
  const attempt = async <T>(phase: string, run: () => Promise<T>): Promise<T | null> => {
    try {
      return await run();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      progress(`${phase} FAILED: ${error}`);
      failures.push({ phase, error });
      return null;
    }
  };
  const memory = o.memory ? await attempt('memory', () => runMemory(o)) : null;
  const diff = o.diff ? await attempt('diff', () => runSyncPhase(o, 'diff')) : null;
  const snap = o.snap ? await attempt('snap', () => runSyncPhase(o, 'snap')) : null;
  return {
    bench: 'cost',
    nodes: o.nodes,
    tickTime: o.tickTime,
    forceSync: true,
    size: o.size,
    node: process.version,
    cores: os.cpus().length,
    loadavg: os.loadavg().map((v) => round(v, 2)),
    memory,
    diff,
    snap,
    failures,
  };
}

/* ---------- output ---------- */

const n = (v: number | null | undefined): string => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toLocaleString('en-US'));
const s = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));

function loadLine(l: LoadStats): string {
  return (
    `${l.what}: ${n(l.znodes)} znodes in ${n(l.txns)} txns, ${l.seconds} s = ${n(l.znodesPerSec)} znodes/s, ${n(l.txnsPerSec)} txns/s; ` +
    `CPU client ${l.clientCores}, servers ${l.serverCores.map((c) => `${c.serverId}${c.role === 'leading' ? 'L' : 'F'} ${c.cores ?? '?'}`).join(', ')} cores ` +
    `(${l.serverCpuUsPerZnode ?? '?'} µs of server CPU per znode) -> ${l.boundBy}-bound` +
    (l.errorsRetried ? `; ${l.errorsRetried} requests re-sent (${Object.entries(l.errorKinds).map(([k, v]) => `${k} ${v}`).join(', ')})` : '')
  );
}

export function formatCostBench(r: CostBenchResult): string {
  const lines: string[] = [`${r.nodes} servers, tickTime ${r.tickTime}, forceSync yes, znode data ${r.size} B, node ${r.node}, ${r.cores} cores, loadavg ${r.loadavg.join(' ')} at the end`];
  const m = r.memory;
  if (m) {
    lines.push('', `Memory: ${n(m.znodes)} znodes of ${m.size} B`, loadLine(m.load), '');
    lines.push('| server | role | znodes | RSS MB before | RSS MB after load | RSS MB settled | peak RSS MB | heap used MB settled | RSS B/znode | ΔRSS B/znode | Δheap B/znode |');
    lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of m.settled) {
      const b = m.before.find((y) => y.serverId === x.serverId);
      const a = m.afterLoad.find((y) => y.serverId === x.serverId);
      const p = m.perZnode.find((y) => y.serverId === x.serverId)!;
      lines.push(
        `| ${x.serverId} | ${x.role} | ${n(x.znodes)} | ${b?.rssMB ?? '-'} | ${a?.rssMB ?? '-'} | ${x.rssMB} | ${x.peakRssMB ?? '-'} | ${x.heapUsedMB} | ${n(p.rssBytes)} | ${n(p.rssDeltaBytes)} | ${n(p.heapUsedDeltaBytes)} |`,
      );
    }
    lines.push(`(settled = after ${m.settleSeconds} s idle; Δ = against the same server before the load)`);
  }
  const phases = [r.diff, r.snap].filter((p): p is SyncPhaseResult => p !== null);
  if (phases.length) {
    lines.push('', 'Catch-up and restart (times in s after spawning the server process)');
    for (const p of phases) {
      lines.push(
        `${p.ensemble === 'diff' ? 'DIFF ensemble (no snapshots)' : `SNAP ensemble (snapCount ${n(p.snapCount)})`}: ${loadLine(p.load)}; ` +
          `${p.electionsDuringLoad} leader elections during the load; leader wrote ${p.leaderSnapshotsTaken} snapshots; leader RSS ${p.leaderMemory?.rssMB ?? '?'} MB (peak ${p.leaderMemory?.peakRssMB ?? '?'}) with ${n(p.leaderMemory?.znodes)} znodes`,
      );
    }
    lines.push(
      '',
      '| scenario | server | sync | elections | txns | snapshot MB | log tail txns | stop | process up | open storage | snapshot read | snapshot restore | log read | client port | sync start | broadcast | caught up | read ok | RSS MB (peak) |',
      '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const p of phases) {
      for (const x of [p.catchUp, p.restart]) {
        const scenario =
          x.kind === 'catch-up'
            ? `catch-up after missing ${n(x.txns)} txns (${p.ensemble.toUpperCase()} ensemble)`
            : p.ensemble === 'diff'
              ? `restart (b): whole log, no snapshot`
              : `restart (a): snapshot + log tail`;
        lines.push(
          `| ${scenario} | ${x.serverId} | ${x.mode}${x.syncAttempts > 1 ? ` x${x.syncAttempts}` : ''} | ${x.elections} | ${n(x.txns)} | ${x.snapshotMB ?? '-'} | ${n(x.logTailTxns)} | ${s(x.stopMs)} | ` +
            `${s(x.processUpMs)} | ${s(x.openStorageMs)} | ${s(x.snapshotReadMs)} | ${s(x.snapshotRestoreMs)} | ${s(x.logReadMs)} | ${s(x.clientPortAtMs)} | ` +
            `${s(x.syncStartAtMs)} | ${s(x.broadcastAtMs)} | **${s(x.caughtUpAtMs)}** | ${s(x.readOkAtMs)} | ${x.rssMB ?? '-'} (${x.peakRssMB ?? '-'}) |`,
        );
      }
    }
    lines.push(
      '(process up, client port, sync start, broadcast, caught up, read ok: moments after spawn; open storage, snapshot read/restore, log read: durations.',
      ' caught up = status says broadcast with lastApplied equal to the leader\'s; read ok = getData of the last znode through that server;',
      ' stop = the clean SIGTERM stop before; sync = what the leader\'s log says it sent, xN = N sync attempts; elections = epochs established meanwhile)',
    );
    for (const p of phases) for (const x of [p.catchUp, p.restart]) if (x.error) lines.push(`FAILED ${x.kind} of server ${x.serverId} (${p.ensemble} ensemble): ${x.error}`);
  }
  for (const f of r.failures) lines.push(`FAILED phase ${f.phase}: ${f.error}`);
  return lines.join('\n');
}



export function costBenchCommand(): Command {
  return new Command('cost')
    .description(
      'scale and cost on a real local ensemble (zab ensemble, fsync on): RSS/heap of servers holding N znodes, ' +
        'restart time from a snapshot and from the whole log, and catch-up of a follower that missed N txns by DIFF and by SNAP',
    )
    .option('--znodes <n>', 'znodes created for the memory figure', positiveInt, 1_000_000)
    .option('--txns <n>', 'txns (single creates) taken while a follower is down, and in the restarted logs', positiveInt, 1_000_000)
    .option('--nodes <n>', 'servers in each ensemble (3 or more for catch-up/restart)', positiveInt, 3)
    .option('--tick-time <ms>', 'tickTime (zab ensemble default 500; initLimit is 10 ticks)', positiveInt, 500)
    .option('--size <bytes>', 'znode data size', positiveInt, 100)
    .option('--multi <n>', 'creates per multi request in the memory load (1: single creates)', positiveInt, 100)
    .option('--clients <n>', 'client connections for the loads (followers first)', positiveInt, 4)
    .option('--multi-outstanding <n>', 'multi requests in flight per client (memory load)', positiveInt, 8)
    .option('--outstanding <n>', 'single creates in flight per client (txn loads)', positiveInt, 256)
    .option('--snap-count <n>', 'snapCount of the SNAP ensemble (default: min(100000, txns/5))', positiveInt)
    .option('--settle <s>', 'idle seconds before the settled memory sample', nonNegativeInt, 5)
    .option('--timeout <s>', 'limit for one catch-up or restart, and for applying a load', positiveInt, 600)
    .option('--dir <path>', 'where the ensembles\' data directories go (default: the OS temp dir)')
    .option('--keep', 'keep the data directories and server logs (their paths are printed)', false)
    .option('--no-memory', 'skip the memory phase')
    .option('--no-diff', 'skip the DIFF ensemble (DIFF catch-up, restart from the whole log)')
    .option('--no-snap', 'skip the SNAP ensemble (SNAP catch-up, restart from a snapshot)')
    .addHelpText(
      'after',
      `
Each phase starts its own ensemble in a temp directory and stops it (every server process) afterwards,
also on failure or Ctrl-C. A quick run: npm run bench -- cost --znodes 20000 --txns 20000`,
    )
    .action(async (o: CostBenchOptions) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        progress(`${sig}: stopping; the ensembles shut down with this process`);
        process.exitCode = 130;
        stopAllAndExit();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const result = await runCostBench(o);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.write(formatCostBench(result) + '\n' + JSON.stringify(result) + '\n');
    });
}
