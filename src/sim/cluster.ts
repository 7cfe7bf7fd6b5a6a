/**
 * One deterministic simulation run: N servers (the real runtime and statecharts) over the simulated
 * network, disks and clocks, clients writing to random servers, faults injected from the seed, and
 * every invariant checked as it happens. The same seed gives the same run, byte for byte.
 */
import pino from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Timing } from '../../machines/types.js';
import { InvariantChecker, InvariantViolation } from '../check/invariants.js';
import { decodeResult, encodeRequest, KvRegister, type KvRequest } from '../app/kv-register.js';
import type { QuorumSystem } from '../quorum/quorum-system.js';
import { HierarchicalQuorum, MajorityQuorum, WeightedQuorum } from '../quorum/index.js';
import { RequestRejected, ZabNode, type Committed } from '../runtime/node.js';
import type { peerMachine } from '../../machines/peer.js';
import { formatZxid, type Zxid } from '../zxid.js';
import { SimClock } from './clock.js';
import { SimDisk } from './memory-storage.js';
import { SimNetwork, type NetTraceEvent } from './network.js';
import { Prng } from './prng.js';
import { Scheduler } from './scheduler.js';
import { SimTransport, type SimWire } from './sim-transport.js';

export type QuorumKind = 'majority' | 'weighted' | 'hierarchical';
export type FaultLevel = 'none' | 'light' | 'heavy';

export interface SimOptions {
  seed: number;
  nodes: number;
  quorum: QuorumKind;
  faults: FaultLevel;
  /** acknowledged writes to reach before healing (the fault phase also has a minimum length) */
  txns: number;
  clients?: number;
  /** encode every message with the real codec (default true) */
  wire?: boolean;
  /** one JSON object per line: every transition, message and fault */
  trace?: (line: string) => void;
  /** give up on reaching `txns` after this much virtual time in the fault phase */
  maxFaultPhaseMs?: number;
  /** after healing, everything must have recovered within this virtual time */
  recoveryBoundMs?: number;
  /** minimum length of the fault phase (default: 2000 ms light, 3000 ms heavy) */
  minFaultPhaseMs?: number;
  /** the statechart every server runs (default: peerMachine); planted-bug tests pass a variant */
  machine?: typeof peerMachine;
  /** simulated timing (default SIM_TIMING) */
  timing?: Timing;
}

export interface SimResult {
  seed: number;
  nodes: number;
  quorum: QuorumKind;
  faults: FaultLevel;
  ok: boolean;
  committed: number;
  acked: number;
  elections: number;
  faultsInjected: number;
  max_recovery_ms: number;
  virtual_ms: number;
  steps: number;
  violation?: { invariant: string; detail: string; step: number; time: number };
}

export const SIM_TIMING: Timing = {
  tickTime: 100,
  initLimit: 10,
  syncLimit: 5,
  finalizeWaitMs: 40,
  notifyMinMs: 50,
  notifyMaxMs: 800,
  connectRetryMs: 20,
};

const silent = pino({ level: 'silent' });

export function buildQuorum(kind: QuorumKind, n: number, prng: Prng): QuorumSystem {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  if (kind === 'majority') return new MajorityQuorum(ids);
  if (kind === 'weighted') {
    // Random weights; sometimes one server of weight 0 (a participant that never counts or wins).
    const weights = ids.map((id) => [id, prng.int(1, 3)] as [number, number]);
    if (n >= 4 && prng.chance(0.3)) weights[prng.int(0, n - 1)]![1] = 0;
    return new WeightedQuorum(weights);
  }
  const groupCount = n >= 6 ? 3 : n >= 3 ? Math.min(3, n) : 1;
  const groups = new Map<number, number[]>();
  ids.forEach((id, i) => {
    const g = (i % groupCount) + 1;
    groups.set(g, [...(groups.get(g) ?? []), id]);
  });
  return new HierarchicalQuorum(groups);
}

interface Member {
  sid: number;
  disk: SimDisk;
  clock: SimClock;
  node: ZabNode | null;
  app: KvRegister | null;
  incarnation: number;
}

function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return formatZxid(v);
  if (v instanceof Uint8Array) return `<${v.length}B>`;
  if (typeof v === 'function') return undefined;
  return v;
}

export class SimCluster {
  readonly scheduler = new Scheduler();
  readonly prng: Prng;
  readonly checker = new InvariantChecker({ mode: 'throw' });
  readonly net: SimNetwork<SimWire>;
  readonly quorum: QuorumSystem;
  readonly members = new Map<number, Member>();
  private readonly o: Required<Omit<SimOptions, 'trace' | 'machine' | 'minFaultPhaseMs'>> &
    Pick<SimOptions, 'trace' | 'machine' | 'minFaultPhaseMs'>;
  private readonly faultRng: Prng;
  private readonly clientRng: Prng;
  private violation: SimResult['violation'];
  private elections = 0;
  private faultsInjected = 0;
  private acked = 0;
  private phase: 'faults' | 'healed' | 'done' = 'faults';
  private healedAt = 0;
  private lastAckAt = 0;
  private firstAckAfterHeal = -1;
  private clientsPending = new Map<number, number>();
  private partitioned = false;
  private crashNextLeaderWithin = -1;
  private quietUntil = 0;
  private crashAfterSend: { sid: number; type: string; delay?: number; restartAfter?: number } | null = null;
  private partitionGeneration = 0;

  constructor(options: SimOptions) {
    this.o = {
      clients: 3,
      wire: true,
      maxFaultPhaseMs: 30_000,
      recoveryBoundMs: 20_000,
      timing: SIM_TIMING,
      ...options,
    };
    this.prng = new Prng(options.seed);
    this.faultRng = this.prng.fork('faults');
    this.clientRng = this.prng.fork('clients');
    this.quorum = buildQuorum(options.quorum, options.nodes, this.prng.fork('quorum'));
    this.net = new SimNetwork<SimWire>(this.scheduler, this.prng.fork('net'), {
      latency: { min: 0.1, max: 1.5 },
      ...(options.trace ? { trace: (e: NetTraceEvent) => this.traceNet(e) } : {}),
    });
    for (let sid = 1; sid <= options.nodes; sid++) {
      const disk = new SimDisk(this.scheduler, this.prng.fork(`disk${sid}`), {
        tornWrites: options.faults !== 'none',
        slowLatency: { min: 5, max: 60 },
      } as ConstructorParameters<typeof SimDisk>[2]);
      const clock = new SimClock(this.scheduler);
      this.members.set(sid, { sid, disk, clock, node: null, app: null, incarnation: 0 });
    }
  }

  private trace(obj: Record<string, unknown>): void {
    if (!this.o.trace) return;
    this.o.trace(JSON.stringify({ t: Number(this.scheduler.now().toFixed(3)), step: this.scheduler.steps(), ...obj }, jsonReplacer));
  }

  private traceNet(e: NetTraceEvent): void {
    if (e.kind === 'send') return; // deliveries and drops say enough
    const m = 'msg' in e ? (e.msg as SimWire) : undefined;
    this.trace({ kind: `net.${e.kind}`, from: e.from, to: e.to, conn: e.conn, ...(m ? { ch: m.ch, msg: m.msg } : {}) });
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (!this.violation) {
      const v = err instanceof InvariantViolation ? err : null;
      this.violation = {
        invariant: v ? v.invariant : 'RuntimeError',
        detail: v ? v.detail : err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err),
        step: this.scheduler.steps(),
        time: this.scheduler.now(),
      };
      this.trace({ kind: 'violation', ...this.violation });
    }
    this.scheduler.stop();
  }

  // ---------------------------------------------------------------- servers

  async startServer(sid: number): Promise<void> {
    const m = this.members.get(sid)!;
    m.incarnation++;
    const stores = m.disk.open();
    const app = new KvRegister();
    const transport = new SimTransport(sid, this.net, this.o.wire, (msg) => this.onSent(sid, msg.type));
    const clock = m.clock;
    const inspect = this.o.trace
      ? (ev: InspectionEvent) => {
          if (ev.type === '@xstate.event' && ev.event.type !== 'xstate.init')
            this.trace({ kind: 'event', sid, actor: (ev.actorRef as { id?: string }).id, event: ev.event });
          else if (ev.type === '@xstate.snapshot' && 'value' in ev.snapshot)
            this.trace({ kind: 'state', sid, actor: (ev.actorRef as { id?: string }).id, value: (ev.snapshot as { value: unknown }).value });
        }
      : undefined;
    const node = new ZabNode({
      sid,
      quorum: this.quorum,
      timing: this.o.timing,
      transport,
      ...(this.o.machine ? { machine: this.o.machine } : {}),
      log: stores.log,
      snapshots: stores.snapshots,
      epochs: stores.epochs,
      app,
      clock: {
        now: () => clock.now(),
        setTimeout: (fn, ms) => clock.setTimer(ms, fn),
        clearTimeout: (h) => clock.clearTimer(h as ReturnType<SimClock['setTimer']>),
      },
      logger: silent,
      incarnation: m.incarnation,
      ...(inspect ? { inspect } : {}),
      onFatal: (err) => this.fail(err),
      observer: {
        proposed: (s, epoch, txn) => this.guard(() => this.checker.proposed(s, epoch, txn)),
        delivered: (s, txn) => this.guard(() => this.checker.delivered(s, txn)),
        established: (s, epoch, end) => {
          this.elections++;
          this.trace({ kind: 'established', sid: s, epoch, zxid: end });
          this.guard(() => this.checker.established(s, epoch, end));
          this.onEstablished(s);
        },
        restored: (s, zxid) => this.guard(() => this.checker.restored(s, zxid)),
        role: (s, role, phase, leader, epoch) => this.trace({ kind: 'role', sid: s, role, phase, leader, epoch }),
      },
    });
    m.node = node;
    m.app = app;
    await node.start();
  }

  crashServer(sid: number): void {
    const m = this.members.get(sid)!;
    if (!m.node) return;
    this.trace({ kind: 'fault', fault: 'crash', sid });
    m.node.stop();
    m.node = null;
    m.app = null;
    m.clock.cancelAll();
    this.net.crash(sid);
    m.disk.crash();
  }

  // ---------------------------------------------------------------- scripted control (scenario tests)

  /** Starts every server (scripted runs; run() does this itself). */
  async startAll(): Promise<void> {
    for (const sid of this.members.keys()) await this.startServer(sid);
  }

  /** Advances virtual time by `ms`, stopping early on a violation. */
  async runFor(ms: number): Promise<void> {
    if (this.violation) return;
    await this.scheduler.run({ until: this.scheduler.now() + ms });
  }

  /** Advances virtual time until `pred` holds (checked every `stepMs`), or throws after `maxMs`. */
  async runUntil(pred: () => boolean, maxMs = 10_000, stepMs = 5): Promise<void> {
    const end = this.scheduler.now() + maxMs;
    while (!pred()) {
      if (this.violation) throw new Error(`violation: ${this.violation.invariant}: ${this.violation.detail}`);
      if (this.scheduler.now() >= end) throw new Error(`condition not reached within ${maxMs} ms: ${this.describeServers()}`);
      await this.scheduler.run({ until: this.scheduler.now() + stepMs });
    }
  }

  /** Submits a KV request to one server; acknowledged writes are reported to the checker. */
  submit(sid: number, req: KvRequest, id = `s${sid}-${this.scheduler.steps()}`): Promise<Committed> {
    const node = this.members.get(sid)?.node;
    if (!node) return Promise.reject(new RequestRejected(`server ${sid} is down`));
    return node.submit(encodeRequest(req)).then((c) => {
      this.acked++;
      this.guard(() => this.checker.clientAcked(id, c.zxid));
      return c;
    });
  }

  node(sid: number): ZabNode | null {
    return this.members.get(sid)?.node ?? null;
  }

  app(sid: number): KvRegister | null {
    return this.members.get(sid)?.app ?? null;
  }

  /** The current leader in broadcast, if exactly one. */
  leader(): number | null {
    const l = this.up().filter((sid) => {
      const s = this.members.get(sid)!.node!.getStatus();
      return s.role === 'leading' && s.phase === 'broadcast';
    });
    return l.length === 1 ? l[0]! : null;
  }

  violationFound(): SimResult['violation'] {
    return this.violation;
  }

  /** The final checks of a run: every server converged and every acknowledged write present. */
  finalCheck(): void {
    for (const m of this.members.values()) {
      if (m.app) this.checker.stateDigest(m.sid, m.app.lastApplied(), m.app.digest());
    }
    this.checker.finalCheck(this.up(), { converged: true });
  }

  isConverged(): boolean {
    return this.converged();
  }

  up(): number[] {
    return [...this.members.values()].filter((m) => m.node).map((m) => m.sid);
  }

  down(): number[] {
    return [...this.members.values()].filter((m) => !m.node).map((m) => m.sid);
  }

  private leaders(): number[] {
    return this.up().filter((sid) => this.members.get(sid)!.node!.getStatus().role === 'leading');
  }

  // ---------------------------------------------------------------- faults

  private scheduleFault(): void {
    if (this.phase !== 'faults' || this.o.faults === 'none') return;
    const heavy = this.o.faults === 'heavy';
    const delay = heavy ? this.faultRng.range(30, 400) : this.faultRng.range(300, 1500);
    this.scheduler.after(delay, () => {
      if (this.phase !== 'faults') return;
      // A composite fault plays out undisturbed.
      if (this.scheduler.now() >= this.quietUntil) this.injectFault(heavy);
      this.scheduleFault();
    }, 'fault');
  }

  private injectFault(heavy: boolean): void {
    const kinds: string[] = ['crash', 'restart', 'cut', 'partition', 'heal'];
    if (heavy)
      kinds.push(
        'crashLeader', 'isolateLeader', 'isolateLeader', 'slowDisk', 'slowDisks', 'skew', 'crash',
        'powerLoss', 'crashNextLeader', 'crashNextLeader', 'crashAfterSend', 'crashAfterSend',
        'staleLeaderReturns', 'powerLossDuringStall',
      );
    else kinds.push('restart', 'heal', 'slowDisk', 'skew');
    this.injectNamed(this.faultRng.pick(kinds), heavy);
  }

  private injectNamed(kind: string, heavy = true): void {
    const r = this.faultRng;
    const up = this.up();
    const down = this.down();
    const n = this.o.nodes;
    this.faultsInjected++;
    switch (kind) {
      case 'crash': {
        // Light faults keep a quorum's worth of servers up; heavy ones may take it away.
        const maxDown = heavy ? n : Math.floor((n - 1) / 2);
        if (up.length === 0 || down.length >= maxDown) return this.restartRandom(down);
        this.crashServer(r.pick(up));
        return;
      }
      case 'crashLeader': {
        const leaders = this.leaders();
        if (leaders.length === 0) return;
        this.crashServer(r.pick(leaders));
        return;
      }
      case 'restart':
        return this.restartRandom(down);
      case 'powerLoss': {
        // Every server loses power at once: only what was durable survives. Power comes back and
        // the servers boot one by one, in any order.
        this.trace({ kind: 'fault', fault: 'powerLoss' });
        for (const sid of up) this.crashServer(sid);
        for (const sid of r.shuffle([...this.members.keys()])) {
          this.scheduler.after(r.range(20, 600), () => {
            if (this.phase !== 'faults' || this.members.get(sid)!.node) return;
            this.trace({ kind: 'fault', fault: 'restart', sid });
            this.startServer(sid).catch((err: unknown) => this.fail(err));
          }, 'fault.powerBack');
        }
        return;
      }
      case 'staleLeaderReturns': {
        // A composite seen in real outages: the leader drops off the network silently and keeps
        // taking writes it cannot commit; the others elect a leader that dies (or its follower
        // does) right after establishing; then the old leader comes back with its stale tail.
        const leaders = this.leaders();
        if (leaders.length === 0) return;
        const l = r.pick(leaders);
        const groups = [[l], [...this.members.keys()].filter((x) => x !== l)];
        this.trace({ kind: 'fault', fault: 'staleLeaderReturns', groups });
        this.net.partitionSilently(groups);
        this.partitioned = true;
        // Its own clients keep writing to it: a tail nobody else has.
        const writes = r.int(1, 4);
        for (let i = 0; i < writes; i++) {
          this.submit(l, { op: 'put', key: `stale${i}`, value: `from-${l}` }, `stale-${l}-${this.faultsInjected}-${i}`).catch(
            () => undefined,
          );
        }
        // Dies at once: before it can propose anything in its new epoch.
        this.crashNextLeaderWithin = 0;
        this.crashAfterSend = null;
        if (r.chance(0.5)) {
          // A follower of the next leader dies just after acking NEWLEADER, its disk stalled.
          const sid = r.pick(groups[1]!);
          this.members.get(sid)!.disk.setSlow(true);
          this.crashAfterSend = { sid, type: 'ACKNEWLEADER', delay: r.range(1, 3), restartAfter: r.range(30, 200) };
        }
        const healIn = r.range(700, 1800);
        this.healLater(healIn);
        this.quietUntil = this.scheduler.now() + healIn + 300;
        return;
      }
      case 'powerLossDuringStall': {
        // Power fails while every disk is stalled: whatever was acked before its sync is exposed.
        this.trace({ kind: 'fault', fault: 'powerLossDuringStall' });
        this.quietUntil = this.scheduler.now() + 700;
        for (const m of this.members.values()) m.disk.setSlow(true);
        this.scheduler.after(r.range(5, 50), () => {
          if (this.phase !== 'faults') return;
          for (const m of this.members.values()) m.disk.setSlow(false);
          this.injectNamed('powerLoss');
        }, 'fault.powerLossDuringStall');
        return;
      }
      case 'crashAfterSend': {
        // A process dies right after writing a given message to its socket (a crash point that
        // matters: after ACK, after ACKNEWLEADER, after COMMIT, ...).
        const sid = r.pick([...this.members.keys()]);
        const type = r.pick(['ACK', 'ACKNEWLEADER', 'ACKEPOCH', 'NEWLEADER', 'COMMIT', 'UPTODATE', 'PROPOSAL', 'LEADERINFO', 'FOLLOWERINFO']);
        this.trace({ kind: 'fault', fault: 'crashAfterSend', sid, type });
        this.crashAfterSend = { sid, type };
        return;
      }
      case 'crashNextLeader':
        // The next leader dies right after establishing its epoch, before or while it broadcasts.
        this.crashNextLeaderWithin = r.range(0, 5);
        return;
      case 'cut': {
        if (up.length < 2) return;
        const a = r.pick(up);
        const b = r.pick(up.filter((s) => s !== a));
        this.trace({ kind: 'fault', fault: 'cut', a, b });
        this.net.cut(a, b);
        return;
      }
      case 'partition': {
        const ids = r.shuffle([...this.members.keys()]);
        const split = r.int(1, n - 1);
        const groups = [ids.slice(0, split), ids.slice(split)];
        const silent = heavy && r.chance(0.5);
        this.trace({ kind: 'fault', fault: 'partition', groups, silent });
        if (silent) this.net.partitionSilently(groups);
        else this.net.partition(groups);
        this.partitioned = true;
        if (heavy) this.healLater(r.range(100, 1500));
        return;
      }
      case 'isolateLeader': {
        const leaders = this.leaders();
        if (leaders.length === 0) return;
        const l = r.pick(leaders);
        const groups = [[l], [...this.members.keys()].filter((s) => s !== l)];
        const silent = r.chance(0.7);
        this.trace({ kind: 'fault', fault: 'isolateLeader', groups, silent });
        if (silent) this.net.partitionSilently(groups);
        else this.net.partition(groups);
        this.partitioned = true;
        // A transient partition: the old leader comes back with whatever it logged meanwhile.
        this.healLater(r.range(300, 2000));
        return;
      }
      case 'heal':
        this.trace({ kind: 'fault', fault: 'heal' });
        this.net.heal();
        this.partitioned = false;
        this.partitionGeneration++;
        return;
      case 'slowDisk': {
        const sid = r.pick([...this.members.keys()]);
        const on = r.chance(0.6);
        this.trace({ kind: 'fault', fault: 'slowDisk', sid, on });
        this.members.get(sid)!.disk.setSlow(on);
        return;
      }
      case 'slowDisks': {
        // Every disk stalls for a while (a shared storage hiccup): syncs complete late everywhere.
        const ms = r.range(50, 500);
        this.trace({ kind: 'fault', fault: 'slowDisks', ms });
        for (const m of this.members.values()) m.disk.setSlow(true);
        this.scheduler.after(ms, () => {
          if (this.phase !== 'faults') return;
          for (const m of this.members.values()) m.disk.setSlow(false);
        }, 'fault.slowDisksEnd');
        return;
      }
      case 'skew': {
        const sid = r.pick([...this.members.keys()]);
        const rate = 0.8 + r.next() * 0.45;
        this.trace({ kind: 'fault', fault: 'skew', sid, rate });
        this.members.get(sid)!.clock.setRate(rate);
        return;
      }
    }
  }

  private healLater(ms: number): void {
    const generation = ++this.partitionGeneration;
    this.scheduler.after(ms, () => {
      // Only heal the partition we made, not a newer one.
      if (this.phase !== 'faults' || this.partitionGeneration !== generation || !this.partitioned) return;
      this.trace({ kind: 'fault', fault: 'heal' });
      this.net.heal();
      this.partitioned = false;
    }, 'fault.heal');
  }

  private onSent(sid: number, type: string): void {
    const armed = this.crashAfterSend;
    if (!armed || armed.sid !== sid || armed.type !== type || this.phase !== 'faults') return;
    this.crashAfterSend = null;
    this.scheduler.after(armed.delay ?? 0, () => {
      if (this.phase !== 'faults') return;
      this.crashServer(sid);
      if (armed.restartAfter === undefined) return;
      this.scheduler.after(armed.restartAfter, () => {
        if (this.phase !== 'faults' || this.members.get(sid)!.node) return;
        this.members.get(sid)!.disk.setSlow(false);
        this.trace({ kind: 'fault', fault: 'restart', sid });
        this.startServer(sid).catch((err: unknown) => this.fail(err));
      }, 'fault.reboot');
    }, 'fault.crashAfterSend');
  }

  private onEstablished(sid: number): void {
    if (this.phase !== 'faults' || this.crashNextLeaderWithin < 0) return;
    const delay = this.crashNextLeaderWithin;
    this.crashNextLeaderWithin = -1;
    this.scheduler.after(delay, () => {
      if (this.phase === 'faults') this.crashServer(sid);
    }, 'fault.crashNextLeader');
  }

  private restartRandom(down: number[]): void {
    if (down.length === 0) return;
    const sid = this.faultRng.pick(down);
    this.trace({ kind: 'fault', fault: 'restart', sid });
    this.startServer(sid).catch((err: unknown) => this.fail(err));
  }

  private healAll(): void {
    this.phase = 'healed';
    this.healedAt = this.scheduler.now();
    this.trace({ kind: 'fault', fault: 'healAll' });
    this.net.heal();
    this.partitioned = false;
    for (const m of this.members.values()) {
      m.disk.setSlow(false);
      m.clock.setRate(1);
    }
    for (const sid of this.down()) this.startServer(sid).catch((err: unknown) => this.fail(err));
  }

  // ---------------------------------------------------------------- clients

  private runClient(c: number): void {
    let n = 0;
    const next = (): void => {
      if (this.phase === 'done' || this.violation) return;
      const up = this.up();
      if (up.length === 0) {
        this.scheduler.after(this.clientRng.range(5, 20), next, `client${c}`);
        return;
      }
      const sid = this.clientRng.pick(up);
      const node = this.members.get(sid)!.node!;
      const key = `k${this.clientRng.int(0, 7)}`;
      const roll = this.clientRng.next();
      let req: KvRequest;
      if (roll < 0.7) req = { op: 'put', key, value: `c${c}-${n}` };
      else if (roll < 0.9) req = { op: 'cas', key, expectedVersion: this.members.get(sid)!.app!.get(key)?.version ?? 0, value: `c${c}-${n}` };
      else req = { op: 'delete', key };
      const id = `c${c}-${n++}`;
      this.clientsPending.set(c, this.scheduler.now());
      let settled = false;
      const timeout = this.scheduler.after(2000, () => {
        if (settled) return;
        settled = true;
        this.trace({ kind: 'client.timeout', client: c, id, sid });
        next();
      }, `client${c}.timeout`);
      node.submit(encodeRequest(req)).then(
        ({ zxid, result }) => {
          // Acked means committed: even if we stopped waiting, the write must survive.
          this.acked++;
          this.lastAckAt = this.scheduler.now();
          if (this.phase === 'healed' && this.firstAckAfterHeal < 0) this.firstAckAfterHeal = this.scheduler.now();
          this.trace({ kind: 'client.ack', client: c, id, sid, zxid, result: decodeResult(result) });
          this.guard(() => this.checker.clientAcked(id, zxid));
          if (settled) return;
          settled = true;
          timeout.cancel();
          this.clientsPending.delete(c);
          this.scheduler.after(this.clientRng.range(0, 2), next, `client${c}`);
        },
        (err: unknown) => {
          if (!(err instanceof RequestRejected)) this.fail(err);
          if (settled) return;
          settled = true;
          timeout.cancel();
          this.scheduler.after(this.clientRng.range(2, 15), next, `client${c}`);
        },
      );
    };
    this.scheduler.after(this.clientRng.range(0, 5), next, `client${c}`);
  }

  // ---------------------------------------------------------------- the run

  async run(): Promise<SimResult> {
    await this.startAll();
    for (let c = 0; c < this.o.clients; c++) this.runClient(c);
    this.scheduleFault();
    const minFaultMs = this.o.minFaultPhaseMs ?? (this.o.faults === 'none' ? 0 : this.o.faults === 'light' ? 2000 : 3000);
    let maxRecovery = 0;
    try {
      // Fault phase: until enough writes are acknowledged (and faults had their time).
      while (!this.violation) {
        const now = this.scheduler.now();
        if ((this.acked >= this.o.txns && now >= minFaultMs) || now >= this.o.maxFaultPhaseMs) break;
        await this.scheduler.run({ until: now + 100 });
      }
      if (!this.violation) {
        this.healAll();
        // Recovery: a write acked after healing, and every server converged on the same history.
        const bound = this.healedAt + this.o.recoveryBoundMs;
        while (!this.violation && this.scheduler.now() < bound) {
          await this.scheduler.run({ until: this.scheduler.now() + 50 });
          if (this.firstAckAfterHeal >= 0 && this.converged()) break;
        }
        if (!this.violation) {
          if (this.firstAckAfterHeal < 0 || !this.converged()) {
            this.fail(
              new InvariantViolation(
                'Liveness',
                `not recovered ${this.o.recoveryBoundMs} ms after healing: ` +
                  `${this.firstAckAfterHeal < 0 ? 'no write acknowledged' : 'servers did not converge'}; ` +
                  this.describeServers(),
              ),
            );
          } else {
            maxRecovery = this.firstAckAfterHeal - this.healedAt;
            this.phase = 'done';
            // Let in-flight client work settle, then the final checks.
            await this.scheduler.run({ until: this.scheduler.now() + 200 });
            if (this.converged()) {
              for (const m of this.members.values()) {
                if (m.app) this.checker.stateDigest(m.sid, m.app.lastApplied(), m.app.digest());
              }
              this.checker.finalCheck(this.up(), { converged: true });
            }
          }
        }
      }
    } catch (err) {
      this.fail(err);
    }
    this.phase = 'done';
    for (const m of this.members.values()) m.node?.stop();
    return {
      seed: this.o.seed,
      nodes: this.o.nodes,
      quorum: this.o.quorum,
      faults: this.o.faults,
      ok: !this.violation,
      committed: this.checker.committedCount(),
      acked: this.acked,
      elections: this.elections,
      faultsInjected: this.faultsInjected,
      max_recovery_ms: Math.round(maxRecovery),
      virtual_ms: Math.round(this.scheduler.now()),
      steps: this.scheduler.steps(),
      ...(this.violation ? { violation: this.violation } : {}),
    };
  }

  /** Every server up, one leader, all applied up to the end of the committed sequence. */
  private converged(): boolean {
    const end: Zxid = this.checker.committedZxid();
    let leaders = 0;
    for (const m of this.members.values()) {
      if (!m.node || !m.app) return false;
      const st = m.node.getStatus();
      if (st.role === 'leading') leaders++;
      if (st.phase !== 'broadcast') return false;
      if (m.app.lastApplied() !== end) return false;
    }
    return leaders === 1;
  }

  describeServers(): string {
    return [...this.members.values()]
      .map((m) => {
        if (!m.node || !m.app) return `${m.sid}:down`;
        const s = m.node.getStatus();
        return `${m.sid}:${s.role}/${s.phase} e${s.epoch} logged ${s.lastLogged} applied ${s.lastApplied}`;
      })
      .join(', ');
  }
}

export async function runSeed(options: SimOptions): Promise<SimResult> {
  return new SimCluster(options).run();
}
