/**
 * Shared helpers for the historical-bug scenario tests: scripted SimCluster runs (no random faults,
 * no random clients), exact single-event stepping, statechart inspection, trace parsing, disk
 * pre-filling, and harness set-ups that bring a follower or a leader machine to a given phase.
 */
import { expect } from 'vitest';
import { SimCluster, SIM_TIMING, type SimOptions } from '../../src/sim/cluster.js';
import { InvariantChecker } from '../../src/check/invariants.js';
import { encodeTxn, type KvRequest, type KvTxn } from '../../src/app/kv-register.js';
import { encodeEnvelope } from '../../src/runtime/envelope.js';
import { encodePeerMessage } from '../../src/codec/peer-codec.js';
import { MajorityQuorum } from '../../src/quorum/index.js';
import type { Committed } from '../../src/runtime/node.js';
import type { QuorumMessage, ServerId, Txn } from '../../src/protocol/messages.js';
import type { LogRecord } from '../../src/storage/ports.js';
import { formatZxid, makeZxid, type Zxid } from '../../src/zxid.js';
import { drive, type Driven } from '../../src/testing/harness.js';
import { followerMachine, type FollowerContext } from '../../machines/follower.js';
import { leaderMachine, type LeaderContext } from '../../machines/leader.js';
import type { Effect, LogHistory, PeerEvent, PeerFacts } from '../../machines/types.js';

export { formatZxid, makeZxid };

// ------------------------------------------------------------------ trace

export interface TraceLine {
  t: number;
  step: number;
  kind: string;
  sid?: number;
  actor?: string;
  event?: { type: string; from?: number; msg?: Record<string, unknown> & { type: string } };
  value?: unknown;
  [k: string]: unknown;
}

/** Collects the cluster's JSONL trace; parses lazily. Bigints appear as hex strings (`0x...`). */
export class Trace {
  private raw: string[] = [];
  private parsed: TraceLine[] = [];

  readonly sink = (line: string): void => {
    this.raw.push(line);
  };

  lines(): TraceLine[] {
    for (let i = this.parsed.length; i < this.raw.length; i++) this.parsed.push(JSON.parse(this.raw[i]!) as TraceLine);
    return this.parsed;
  }

  /** Quorum messages handled by server `sid`'s role actor (follower/leader), in order, with the role state just before. */
  received(sid: number, type?: string): { t: number; from: number; msg: Record<string, unknown> & { type: string }; stateBefore: unknown }[] {
    const out: { t: number; from: number; msg: Record<string, unknown> & { type: string }; stateBefore: unknown }[] = [];
    let state: unknown = null;
    for (const l of this.lines()) {
      if (l.sid !== sid || l.actor !== 'role') continue;
      if (l.kind === 'state') state = l.value;
      else if (l.kind === 'event' && l.event?.type === 'QUORUM_MESSAGE' && l.event.msg && (!type || l.event.msg.type === type)) {
        out.push({ t: l.t, from: l.event.from!, msg: l.event.msg, stateBefore: state });
      }
    }
    return out;
  }

  /** Election notifications sent by `sid` as seen by their receivers (the peer actor). */
  notificationsFrom(sid: number): { t: number; to: number; zxid: string; peerEpoch: number }[] {
    const out: { t: number; to: number; zxid: string; peerEpoch: number }[] = [];
    for (const l of this.lines()) {
      if (l.kind !== 'event' || l.actor === 'role' || l.event?.type !== 'NOTIFICATION' || l.event.from !== sid) continue;
      const m = l.event.msg as unknown as { leader: number; zxid: string; peerEpoch: number };
      if (m.leader === sid) out.push({ t: l.t, to: l.sid!, zxid: m.zxid, peerEpoch: m.peerEpoch });
    }
    return out;
  }

  /** 'log' effects are silent in the sim; the role output reasons show up as state values instead. */
  count(pred: (l: TraceLine) => boolean): number {
    return this.lines().filter(pred).length;
  }
}

// ------------------------------------------------------------------ cluster

export interface Scenario {
  c: SimCluster;
  trace: Trace;
}

/** A scripted cluster: no injected faults, no background clients, a fixed seed, a full trace. */
export function scenario(seed: number, opts: Partial<SimOptions> = {}): Scenario {
  const trace = new Trace();
  const c = new SimCluster({ seed, nodes: 3, quorum: 'majority', faults: 'none', txns: 0, clients: 0, trace: trace.sink, ...opts });
  return { c, trace };
}

/**
 * A SimCluster whose checker does not demand that every delivered txn was proposed by an observed
 * leader: for runs that start from disks pre-filled with history no simulated leader proposed.
 * Every other invariant (prefix consistency, agreement, leadership, acked writes, state digests) holds.
 */
export class PrefilledCluster extends SimCluster {
  override readonly checker = new InvariantChecker({ mode: 'throw', observeProposals: false });
}

export function prefilledScenario(seed: number, opts: Partial<SimOptions> = {}): Scenario {
  const trace = new Trace();
  const c = new PrefilledCluster({ seed, nodes: 3, quorum: 'majority', faults: 'none', txns: 0, clients: 0, trace: trace.sink, ...opts });
  return { c, trace };
}

export function throwOnViolation(c: SimCluster): void {
  const v = c.violationFound();
  if (v) throw new Error(`invariant violation ${v.invariant}: ${v.detail}`);
}

/**
 * Runs the simulation one scheduler event at a time (each event's promise work settles before the
 * next), stopping as soon as `pred` holds: the way to stop at an exact protocol step. `each` runs
 * after every event (for per-step invariant checks).
 */
export async function stepUntil(c: SimCluster, pred: () => boolean, what: string, opts: { maxSteps?: number; each?: () => void } = {}): Promise<void> {
  const max = opts.maxSteps ?? 100_000;
  for (let i = 0; i < max; i++) {
    throwOnViolation(c);
    if (pred()) return;
    const r = await c.scheduler.run({ maxSteps: 1 });
    opts.each?.();
    if (r.reason === 'idle') break;
  }
  throwOnViolation(c);
  if (pred()) return;
  throw new Error(`not reached: ${what} (${c.describeServers()})`);
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/** Observes a promise without running the simulation: `get()` is null until it settles. */
export function track<T>(p: Promise<T>): { get(): Outcome<T> | null } {
  let out: Outcome<T> | null = null;
  p.then(
    (value) => (out = { ok: true, value }),
    (error: unknown) => (out = { ok: false, error: error as Error }),
  );
  return { get: () => out };
}

/** Runs until the promise settles; returns its outcome. */
export async function settle<T>(c: SimCluster, p: Promise<T>, maxMs = 10_000): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  let out: { ok: true; value: T } | { ok: false; error: Error } | null = null;
  p.then(
    (value) => (out = { ok: true, value }),
    (error: unknown) => (out = { ok: false, error: error as Error }),
  );
  await c.runUntil(() => out !== null, maxMs, 1);
  return out!;
}

/** Submits a put and runs until it is acknowledged (fails the test otherwise). */
export async function put(c: SimCluster, sid: number, key: string, value: string): Promise<Committed> {
  const r = await settle(c, c.submit(sid, { op: 'put', key, value }, `${key}=${value}`));
  if (!r.ok) throw new Error(`put ${key}=${value} at ${sid} failed: ${r.error.message}`);
  return r.value;
}

/**
 * A client that retries: submits to the current leader (waiting for one), retrying on errors
 * (connection loss, leader stepping down) until acknowledged within `maxMs` of virtual time.
 */
export async function putRetry(c: SimCluster, key: string, value: string, maxMs = 15_000): Promise<Committed> {
  const end = c.scheduler.now() + maxMs;
  let attempt = 0;
  let last = '';
  while (c.scheduler.now() < end) {
    await c.runUntil(() => c.leader() !== null, Math.max(1, end - c.scheduler.now()));
    const r = await settle(c, c.submit(c.leader()!, { op: 'put', key, value }, `${key}=${value}#${attempt++}`), Math.max(1, end - c.scheduler.now()));
    if (r.ok) return r.value;
    last = r.error.message;
    await c.runFor(20);
  }
  throw new Error(`put ${key}=${value} not acknowledged within ${maxMs} ms (last error: ${last})`);
}

export async function startAndElect(c: SimCluster, sids?: number[]): Promise<number> {
  if (sids) for (const s of sids) await c.startServer(s);
  else await c.startAll();
  await c.runUntil(() => c.leader() !== null && c.up().every((s) => c.node(s)!.getStatus().phase === 'broadcast'), 10_000);
  return c.leader()!;
}

export function others(c: SimCluster, ...not: number[]): number[] {
  return [...c.members.keys()].filter((s) => !not.includes(s));
}

/** Heals, restarts whatever is down, waits for convergence, then runs the final checks. */
export async function recoverAndCheck(c: SimCluster, maxMs = 20_000): Promise<void> {
  c.net.heal();
  for (const sid of c.down()) await c.startServer(sid);
  await c.runUntil(() => c.isConverged(), maxMs);
  throwOnViolation(c);
  c.finalCheck();
  expect(c.checker.violations).toEqual([]);
}

// ------------------------------------------------------------------ statechart inspection

type AnySnapshot = { value: unknown; context: unknown; status: string };

export function peerSnapshot(c: SimCluster, sid: number): AnySnapshot | null {
  return (c.node(sid)?.snapshot() as unknown as AnySnapshot | null) ?? null;
}

function roleSnapshot(c: SimCluster, sid: number): AnySnapshot | null {
  const s = c.node(sid)?.snapshot();
  const role = s?.children.role as { getSnapshot(): AnySnapshot } | undefined;
  return role ? role.getSnapshot() : null;
}

/** The peer's top state: 'looking' | 'following' | 'leading' | 'quiescing' (null when down). */
export function peerState(c: SimCluster, sid: number): string | null {
  return (peerSnapshot(c, sid)?.value as string | undefined) ?? null;
}

/** Follower protocol state as a dotted path ('synchronization.awaitingDurableLog', 'broadcast'), or null. */
export function followerPhase(c: SimCluster, sid: number): string | null {
  if (peerState(c, sid) !== 'following') return null;
  const v = roleSnapshot(c, sid)?.value as { session?: unknown } | string | undefined;
  if (!v || typeof v === 'string' || !v.session) return typeof v === 'string' ? v : null;
  return flatten(v.session);
}

function flatten(v: unknown): string {
  if (typeof v === 'string') return v;
  const [k, inner] = Object.entries(v as Record<string, unknown>)[0]!;
  return `${k}.${flatten(inner)}`;
}

export function followerContext(c: SimCluster, sid: number): FollowerContext | null {
  return peerState(c, sid) === 'following' ? (roleSnapshot(c, sid)?.context as FollowerContext) : null;
}

export function leaderContext(c: SimCluster, sid: number): LeaderContext | null {
  return peerState(c, sid) === 'leading' ? (roleSnapshot(c, sid)?.context as LeaderContext) : null;
}

export function peerFacts(c: SimCluster, sid: number): PeerFacts | null {
  return (peerSnapshot(c, sid)?.context as { facts: PeerFacts } | undefined)?.facts ?? null;
}

/** Phase of learner `learner` in the handlers of leader `leader` ('info' | 'ackedEpoch' | 'syncing' | 'synced'), or null. */
export function learnerPhase(c: SimCluster, leader: number, learner: number): string | null {
  return leaderContext(c, leader)?.learners[learner]?.phase ?? null;
}

// ------------------------------------------------------------------ disks

export function disk(c: SimCluster, sid: number) {
  return c.members.get(sid)!.disk;
}

export function durableZxids(c: SimCluster, sid: number): Zxid[] {
  return disk(c, sid).durableLog().map((r) => r.zxid);
}

export function durableLast(c: SimCluster, sid: number): Zxid {
  const log = durableZxids(c, sid);
  const snaps = disk(c, sid).durableSnapshots();
  const snap = snaps.length > 0 ? snaps[snaps.length - 1]!.zxid : 0n;
  const last = log.length > 0 ? log[log.length - 1]! : 0n;
  return last > snap ? last : snap;
}

/** A replicated txn as the runtime logs it: envelope(request id, KV txn). */
export function kvTxn(zxid: Zxid, txn: KvTxn, id = ''): Txn {
  return { zxid, data: encodeEnvelope(id, encodeTxn(txn)) };
}

/** Writes epochs and log records to a (stopped) server's disk and runs the sim until they are durable. */
export async function prefillDisk(c: SimCluster, sid: number, state: { acceptedEpoch: number; currentEpoch: number; log: LogRecord[] }): Promise<void> {
  const stores = disk(c, sid).open();
  let done = false;
  const p = (async () => {
    await stores.epochs.setAcceptedEpoch(state.acceptedEpoch);
    await stores.epochs.setCurrentEpoch(state.currentEpoch);
    if (state.log.length > 0) await stores.log.append(state.log);
  })().then(() => (done = true));
  await c.runUntil(() => done, 1000, 1);
  await p;
}

/**
 * Sends a forged quorum message from `from` to `to` over their existing quorum connection (the one
 * the learner `to`... opened to leader `from`), as if the leader had sent it.
 */
export function injectFromLeader(c: SimCluster, leader: number, follower: number, msg: QuorumMessage): number {
  let sent = 0;
  for (const conn of c.net.openConnections()) {
    // The learner dials its leader: on the learner's side a connection it dialed for elections
    // drops quorum-channel messages, so only the real quorum connection delivers this.
    if (conn.a === follower && conn.b === leader) {
      c.net.send(leader, conn.conn, { ch: 'Q', msg: encodePeerMessage(msg) });
      sent++;
    }
  }
  return sent;
}

export function req(key: string, value: string): KvRequest {
  return { op: 'put', key, value };
}

// ------------------------------------------------------------------ harness set-ups

export const QUORUM3 = new MajorityQuorum([1, 2, 3]);
export const TIMING = SIM_TIMING;

export function history(base: Zxid, ranges: { epoch: number; first: number; last: number }[]): LogHistory {
  return { base, ranges };
}

export function qm(from: ServerId, msg: QuorumMessage): PeerEvent {
  return { type: 'QUORUM_MESSAGE', from, msg };
}

export function txnAt(epoch: number, counter: number, value = `v${epoch}.${counter}`): Txn {
  return kvTxn(makeZxid(epoch, counter), { op: 'set', key: 'k', value, version: counter });
}

/**
 * A follower machine (server 2, leader 1) driven through discovery into synchronization for
 * `epoch`, its log ending at `last` (everything up to it durable).
 */
export function followerInSync(last: Zxid, acceptedEpoch: number, epoch: number): Driven<typeof followerMachine> {
  const facts: PeerFacts = { acceptedEpoch, currentEpoch: acceptedEpoch, lastLogged: last, history: { base: 0n, ranges: [] } };
  const h = drive(followerMachine, { self: 2, leader: 1, quorum: QUORUM3, timing: TIMING, facts });
  h.send({ type: 'LEADER_CONNECTED', leader: 1 });
  h.send(qm(1, { type: 'LEADERINFO', newEpoch: epoch }));
  h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch });
  expect(h.states()).toContain('session.synchronization.awaitingMode');
  h.take();
  return h;
}

/**
 * A follower taken through a DIFF sync of `txns` (committed up to `committed`) and NEWLEADER to
 * broadcast, all durable.
 */
export function followerInBroadcast(last: Zxid, epoch: number, txns: Txn[], committed: Zxid): Driven<typeof followerMachine> {
  const h = followerInSync(last, epoch - 1, epoch);
  const target = txns.length > 0 ? txns[txns.length - 1]!.zxid : last;
  h.send(qm(1, { type: 'DIFF', zxid: target }));
  if (txns.length > 0) h.send(qm(1, { type: 'PROPOSAL', txns }));
  h.send(qm(1, { type: 'NEWLEADER', epoch, zxid: target }));
  if (txns.length > 0) h.send({ type: 'LOG_SYNCED', zxid: target });
  h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch });
  h.send(qm(1, { type: 'UPTODATE', committed }));
  expect(h.states()).toContain('session.broadcast');
  h.take();
  return h;
}

/**
 * A leader machine (server 1 of {1,2,3}) taken to broadcast in epoch `epoch` (= acceptedEpoch+1)
 * with learner 2 synced, its own log ending at `last` (durable).
 */
export function leaderEstablished(facts: PeerFacts): { h: Driven<typeof leaderMachine>; epoch: number } {
  const h = drive(leaderMachine, { self: 1, quorum: QUORUM3, timing: TIMING, facts });
  h.send(qm(2, { type: 'FOLLOWERINFO', acceptedEpoch: facts.acceptedEpoch, lastZxid: facts.lastLogged, observer: false }));
  const persist = h.take('persistAcceptedEpoch');
  expect(persist).toHaveLength(1);
  const epoch = persist[0]!.epoch;
  h.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch });
  h.send(qm(2, { type: 'ACKEPOCH', currentEpoch: facts.currentEpoch, lastZxid: facts.lastLogged, counted: true }));
  expect(h.take('persistCurrentEpoch')).toHaveLength(1);
  h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch });
  h.send(qm(2, { type: 'ACKNEWLEADER', epoch }));
  const est = h.take('established');
  expect(est.map((e) => e.epoch)).toEqual([epoch]);
  h.take();
  return { h, epoch };
}

export function effectsOf<T extends Effect['type']>(effects: Effect[], type: T): Extract<Effect, { type: T }>[] {
  return effects.filter((e) => e.type === type) as Extract<Effect, { type: T }>[];
}

export function sentMessages(effects: Effect[], to?: ServerId): QuorumMessage[] {
  const out: QuorumMessage[] = [];
  for (const e of effects) {
    if (e.type === 'send' && (to === undefined || e.to === to)) out.push(e.msg);
    if (e.type === 'broadcast' && (to === undefined || e.to.includes(to))) out.push(e.msg);
  }
  return out;
}
