/**
 * ZabNode: one server's runtime. It runs the peer statechart (and its child actors), carries out the
 * effects they ask for over the ports it was given (transport, storage, clock, application), and
 * turns completions (a durable append, an epoch written, a message) back into events. The same code
 * runs over TCP and disk or over the simulator.
 *
 * Rules it keeps: nothing is acknowledged before it is durable (LOG_SYNCED only after the log's
 * sync); storage operations run in the order they were asked for; only committed, durable txns are
 * applied; everything sent to one learner leaves in the order it was asked for, even when part of it
 * (a sync stream) has to be read from disk first.
 */
import { createActor, type Actor } from 'xstate';
import type { Logger } from 'pino';
import { deliveryTarget, peerMachine } from '../../machines/peer.js';
import { SilenceWatches } from './silence-watch.js';
import type { Effect, LogHistory, PeerEvent, PeerFacts, Role, SyncPlan, Timing } from '../../machines/types.js';
import type { ForwardedRequest, QuorumMessage, ServerId, Txn } from '../protocol/messages.js';
import type { QuorumSystem } from '../quorum/quorum-system.js';
import type { IncrementalRestore, IncrementalSnapshot, ReplicatedStateMachine } from '../app/state-machine.js';
import type { EpochStore, LogRecord, SnapshotStore, TxnLog } from '../storage/ports.js';
import { counterOf, epochOf, formatZxid, makeZxid, type Zxid } from '../zxid.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { Clock, PeerTransport, TransportHandler } from './ports.js';
import type { InspectionEvent, Subscription } from 'xstate';

export interface NodeObserver {
  proposed?(sid: ServerId, epoch: number, txn: Txn): void;
  delivered?(sid: ServerId, txn: Txn): void;
  established?(sid: ServerId, epoch: number, historyEnd: Zxid): void;
  restored?(sid: ServerId, zxid: Zxid): void;
  role?(sid: ServerId, role: Role, phase: string, leader: ServerId | null, epoch: number): void;
}

export interface NodeOptions {
  sid: ServerId;
  quorum: QuorumSystem;
  timing: Timing;
  transport: PeerTransport;
  log: TxnLog;
  snapshots: SnapshotStore;
  epochs: EpochStore;
  app: ReplicatedStateMachine;
  clock: Clock;
  logger: Logger;
  /** distinguishes this run of the server in request ids (a restart must not reuse them) */
  incarnation: number;
  observer?: NodeObserver;
  /** how submissions in one burst are gathered into one batch (default: a microtask) */
  schedule?: (fn: () => void) => void;
  /** most records per log write and per sync-stream message */
  maxBatch?: number;
  /** bytes per snapshot chunk sent to a learner */
  snapshotChunkBytes?: number;
  /**
   * CPU per slice of the long jobs of a sync (the snapshot a leader takes for a learner's SNAP, a
   * follower restoring one, applying a big backlog of committed txns), after which the event loop
   * gets a turn (`defer`), so that both keep answering each other meanwhile. Default: no slices
   * (each job in one go, as the simulator runs them).
   */
  sliceMs?: number;
  /** runs the next slice of a long job (default setImmediate) */
  defer?: (fn: () => void) => void;
  /** the statechart to run (default: peerMachine; tests pass variants made with .provide()) */
  machine?: typeof peerMachine;
  /** called when the statechart itself fails (a bug): the server stops */
  onFatal?: (err: unknown) => void;
  /** XState inspection events of every actor of this server (for traces and the inspector) */
  inspect?: (event: InspectionEvent) => void;
}

/** A learner's sync stream waits while more than this is queued for it (the connection's bound is 64 MiB). */
const SYNC_LOW_WATER_BYTES = 8 * 1024 * 1024;

export class RequestRejected extends Error {
  override readonly name = 'RequestRejected';
}

export interface Committed {
  zxid: Zxid;
  result: Uint8Array;
}

interface Waiter {
  resolve(committed: Committed): void;
  reject(err: Error): void;
}

interface SyncWaiter {
  zxid: Zxid;
  resolve(z: Zxid): void;
}

type StorageOp =
  | { kind: 'append'; records: LogRecord[] }
  | { kind: 'truncate'; zxid: Zxid }
  | { kind: 'snapshot'; zxid: Zxid; data: Uint8Array }
  | { kind: 'barrier'; done: () => void };

/** One learner's outbound queue: direct while idle, queued behind a sync stream that is still being read. */
interface Outbox {
  streaming: boolean;
  queued: QuorumMessage[];
  abort: boolean;
}

export interface NodeStatus {
  sid: ServerId;
  role: Role;
  phase: string;
  leader: ServerId | null;
  epoch: number;
  lastLogged: string;
  lastApplied: string;
}

export class ZabNode implements TransportHandler {
  readonly sid: ServerId;
  private readonly o: NodeOptions;
  private actor: Actor<typeof peerMachine> | null = null;
  private stopped = false;
  private readonly maxBatch: number;

  /** logged (or being logged) txns not applied yet, in zxid order: the log's tail after lastApplied */
  private unapplied: Txn[] = [];
  private unappliedHead = 0;
  private history: LogHistory = { base: 0n, ranges: [] };
  private lastQueued: Zxid = 0n;
  private lastDurable: Zxid = 0n;

  /** log records up to here may have been purged: a sync from below it must be a SNAP */
  private purgedUpTo: Zxid = 0n;

  private storageQueue: StorageOp[] = [];
  private storageBusy = false;

  private outboxes = new Map<ServerId, Outbox>();
  private snapshotChunks: Uint8Array[] = [];

  /** deliver() requests up to here; applied in order, in slices when there is a backlog */
  private applyTarget: Zxid = 0n;
  private applyScheduled = false;
  /** slices in a row that applying took (reads wait from the second on: the state is well behind) */
  private applySlices = 0;
  /** a learner's snapshot being restored in slices: nothing is applied until it is in */
  private restoring: IncrementalRestore | null = null;

  private waiters = new Map<string, Waiter>();
  private syncWaiters: SyncWaiter[] = [];
  private submitted: ForwardedRequest[] = [];
  private flushScheduled = false;
  private seq = 0;

  private status: NodeStatus;
  /** peers a statechart watches for silence (watchSilence): answered by PEER_SILENT */
  private readonly silence: SilenceWatches;

  constructor(options: NodeOptions) {
    this.o = options;
    this.sid = options.sid;
    this.silence = new SilenceWatches(options.clock, (sid) => this.send({ type: 'PEER_SILENT', sid }));
    this.maxBatch = options.maxBatch ?? 1000;
    this.status = { sid: this.sid, role: 'looking', phase: 'starting', leader: null, epoch: 0, lastLogged: '0x0', lastApplied: '0x0' };
  }

  // ---------------------------------------------------------------- life cycle

  /** Recovers state from the newest snapshot plus the log, then starts the peer statechart. */
  async start(): Promise<void> {
    const { log, snapshots, epochs, app, logger } = this.o;
    const stored = await epochs.load();
    const t0 = performance.now();
    const snap = await snapshots.loadNewest();
    const t1 = performance.now();
    const base = snap?.zxid ?? 0n;
    if (snap) app.restore(snap.data, snap.zxid);
    const t2 = performance.now();
    this.o.observer?.restored?.(this.sid, base);

    // The log's tail after the snapshot waits, unapplied, until the protocol says what is committed.
    // Records at or below the snapshot are superseded by it: after a crash between installing a
    // leader's snapshot and dropping the old log they may even be from a discarded history.
    const ranges: LogHistory['ranges'] = [];
    for await (const batch of log.read(base)) {
      for (const r of batch) {
        if (r.zxid <= base) continue;
        this.extendRanges(ranges, r.zxid);
        this.unapplied.push({ zxid: r.zxid, data: r.data });
      }
    }
    const t3 = performance.now();
    const logLast = log.lastZxid();
    this.history = { base, ranges };
    this.lastQueued = this.lastDurable = logLast > base ? logLast : base;
    let currentEpoch = stored.currentEpoch;
    if (epochOf(this.lastDurable) > currentEpoch) {
      // ZOOKEEPER-2354: a crash between logging a new epoch's txns and writing currentEpoch is legal;
      // the txns are judged by the next leader, the server must still start.
      logger.warn(
        { currentEpoch, lastLogged: formatZxid(this.lastDurable) },
        'log holds txns of an epoch newer than currentEpoch; keeping currentEpoch (the next sync settles them)',
      );
    }
    if (stored.acceptedEpoch < currentEpoch) currentEpoch = stored.acceptedEpoch; // load() already refuses this; belt and braces
    const facts: PeerFacts = {
      acceptedEpoch: stored.acceptedEpoch,
      currentEpoch,
      lastLogged: this.lastDurable,
      history: this.history,
    };
    this.status.lastLogged = formatZxid(this.lastDurable);
    this.status.lastApplied = formatZxid(app.lastApplied());
    logger.info(
      {
        sid: this.sid,
        snapshot: formatZxid(base),
        lastLogged: formatZxid(this.lastDurable),
        unapplied: this.unapplied.length,
        ...stored,
        // where recovery's time went: reading the newest snapshot, restoring the app from it, reading the log's tail
        ms: { snapshotRead: Math.round(t1 - t0), snapshotRestore: Math.round(t2 - t1), logRead: Math.round(t3 - t2) },
        ...(snap ? { snapshotBytes: snap.data.length } : {}),
      },
      'recovered',
    );
    this.o.transport.attach(this);
    this.actor = createActor(this.o.machine ?? peerMachine, {
      id: `peer-${this.sid}`,
      input: { self: this.sid, quorum: this.o.quorum, timing: this.o.timing, io: (e) => this.execute(e), facts },
      clock: { setTimeout: (fn, ms) => this.o.clock.setTimeout(fn, ms), clearTimeout: (h) => this.o.clock.clearTimeout(h) },
      ...(this.o.inspect ? { inspect: this.o.inspect } : {}),
    });
    this.actor.subscribe({
      error: (err) => {
        this.o.logger.fatal({ err }, 'statechart failed; stopping this server');
        this.o.onFatal?.(err);
        this.stop();
      },
    });
    this.actor.start();
  }

  /** Stops the statechart and the transport; pending requests fail. Storage is left to its owner. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.silence.clearAll();
    this.actor?.stop();
    this.o.transport.shutdown();
    this.failAllWaiters('server stopped');
  }

  /**
   * True while this server restores a snapshot or applies a backlog of committed txns in slices:
   * its state is behind what it has logged and acknowledged, so it should not serve reads yet.
   */
  catchingUp(): boolean {
    return this.restoring !== null || this.applySlices >= 2;
  }

  getStatus(): NodeStatus {
    return { ...this.status, lastLogged: formatZxid(this.lastDurable), lastApplied: formatZxid(this.o.app.lastApplied()) };
  }

  /** Lengths of the runtime's queues (metrics): log ops, messages held behind learner syncs, logged but unapplied txns, writes awaiting commit. */
  queueDepths(): { storage: number; outbox: number; unapplied: number; requests: number } {
    let outbox = 0;
    for (const b of this.outboxes.values()) outbox += b.queued.length;
    return { storage: this.storageQueue.length, outbox, unapplied: this.unapplied.length - this.unappliedHead, requests: this.waiters.size };
  }

  /** The log may no longer hold records up to `zxid` (segments purged after a snapshot). */
  notePurged(zxid: Zxid): void {
    if (zxid > this.purgedUpTo) this.purgedUpTo = zxid;
  }

  /**
   * The running actor system (null before start), for an inspector that follows the actors and
   * attaches XState's inspection only while someone watches (`inspect` in the options is for the
   * whole life of the server: traces).
   */
  actorSystem(): { root: Actor<typeof peerMachine>; inspect(observer: (ev: InspectionEvent) => void): Subscription } | null {
    const actor = this.actor;
    return actor ? { root: actor, inspect: (observer) => actor.system.inspect(observer) } : null;
  }

  /** The statechart's current snapshot (for inspection and tests). */
  snapshot(): ReturnType<Actor<typeof peerMachine>['getSnapshot']> | null {
    return this.actor?.getSnapshot() ?? null;
  }

  // ---------------------------------------------------------------- client side

  /** Submits a write; resolves with its zxid and the application's result once committed and applied here. */
  submit(data: Uint8Array): Promise<Committed> {
    if (this.stopped) return Promise.reject(new RequestRejected('server stopped'));
    const id = `${this.sid}.${this.o.incarnation}.${++this.seq}`;
    return new Promise<Committed>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      this.submitted.push({ id, data });
      this.scheduleFlush();
    });
  }

  /** Resolves once every write committed before the call is applied here (ZooKeeper's sync). */
  sync(): Promise<Zxid> {
    if (this.stopped) return Promise.reject(new RequestRejected('server stopped'));
    const id = `${this.sid}.${this.o.incarnation}.${++this.seq}`;
    return new Promise<Zxid>((resolve, reject) => {
      this.waiters.set(id, {
        resolve: () => undefined,
        reject,
      });
      this.syncIds.set(id, resolve);
      this.send({ type: 'CLIENT_SYNC', id });
    });
  }

  private syncIds = new Map<string, (z: Zxid) => void>();

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    (this.o.schedule ?? queueMicrotask)(() => {
      this.flushScheduled = false;
      const requests = this.submitted;
      this.submitted = [];
      for (let i = 0; i < requests.length; i += this.maxBatch) {
        this.send({ type: 'CLIENT_REQUESTS', requests: requests.slice(i, i + this.maxBatch) });
      }
    });
  }

  // ---------------------------------------------------------------- transport events

  onElection(from: ServerId, msg: Parameters<TransportHandler['onElection']>[1]): void {
    this.send({ type: 'NOTIFICATION', from, msg });
  }

  onQuorum(from: ServerId, msg: QuorumMessage): void {
    this.silence.heard(from);
    this.send({ type: 'QUORUM_MESSAGE', from, msg });
  }

  onLeaderConnected(leader: ServerId): void {
    this.send({ type: 'LEADER_CONNECTED', leader });
  }

  onLeaderConnectFailed(leader: ServerId): void {
    this.send({ type: 'LEADER_CONNECT_FAILED', leader });
  }

  onQuorumClosed(sid: ServerId): void {
    const box = this.outboxes.get(sid);
    if (box) box.abort = true;
    this.outboxes.delete(sid);
    this.send({ type: 'PEER_DISCONNECTED', sid });
  }

  private send(event: PeerEvent): void {
    if (this.stopped || !this.actor) return;
    // Straight to the actor that acts on it, skipping the ones that would only pass it on.
    const to = deliveryTarget(this.actor.getSnapshot(), event);
    if (to) to.actor.send(to.event);
    else this.actor.send(event);
  }

  // ---------------------------------------------------------------- effects

  private execute(e: Effect): void {
    if (this.stopped) return;
    switch (e.type) {
      case 'sendElection':
        for (const to of e.to) this.o.transport.sendElection(to, e.msg);
        return;
      case 'send':
        this.sendTo(e.to, e.msg);
        return;
      case 'broadcast':
        this.broadcastTo(e.to, e.msg);
        return;
      case 'connect':
        this.o.transport.connectToLeader(e.leader);
        return;
      case 'disconnect':
        this.o.logger.debug({ peer: e.sid, reason: e.reason }, 'closing quorum connection');
        this.dropOutbox(e.sid);
        this.o.transport.close(e.sid, e.reason);
        return;
      case 'watchSilence':
        this.silence.watch(e.sid, e.ms, e.owner);
        return;
      case 'unwatchSilence':
        this.silence.unwatch(e.sid, e.owner);
        return;
      case 'append':
        this.appendTxns(e.txns);
        return;
      case 'truncate':
        this.truncate(e.zxid);
        return;
      case 'snapshotChunk':
        if (e.offset === 0) this.snapshotChunks = [];
        this.snapshotChunks.push(e.data);
        return;
      case 'installSnapshot':
        this.installSnapshot(e.zxid);
        return;
      case 'persistAcceptedEpoch':
        void this.persistEpoch('accepted', e.epoch);
        return;
      case 'persistCurrentEpoch':
        void this.persistEpoch('current', e.epoch);
        return;
      case 'deliver':
        this.deliver(e.upTo);
        return;
      case 'propose':
        this.propose(e.first, e.requests, e.to);
        return;
      case 'syncLearner':
        this.syncLearner(e.sid, e.plan, e.upTo);
        return;
      case 'established':
        this.o.observer?.established?.(this.sid, e.epoch, e.zxid);
        return;
      case 'rejectRequests':
        for (const id of e.ids) this.rejectWaiter(id, e.reason);
        return;
      case 'syncDone':
        this.whenApplied(e.zxid, (z) => {
          const done = this.syncIds.get(e.id);
          this.syncIds.delete(e.id);
          this.waiters.delete(e.id);
          done?.(z);
        });
        return;
      case 'role':
        this.status = { ...this.status, role: e.role, phase: e.phase, leader: e.leader, epoch: e.epoch };
        this.o.logger.info({ role: e.role, phase: e.phase, leader: e.leader, epoch: e.epoch }, 'role');
        this.o.observer?.role?.(this.sid, e.role, e.phase, e.leader, e.epoch);
        return;
      case 'quiesce':
        this.quiesce(e.reason);
        return;
      case 'log':
        this.o.logger[e.level](e.data ?? {}, e.msg);
        return;
    }
  }

  // ---------------------------------------------------------------- quorum channel, in order per learner

  /**
   * Whether `msg` for `sid` must wait behind a sync stream still being sent (and is queued there).
   * PINGs overtake it: a learner in sync answers them and takes nothing else from them, so both sides
   * hear each other while a big SNAP is prepared, sent and restored.
   */
  private heldBehindSync(sid: ServerId, msg: QuorumMessage): boolean {
    const box = this.outboxes.get(sid);
    if (!box?.streaming || msg.type === 'PING') return false;
    box.queued.push(msg);
    return true;
  }

  private sendTo(to: ServerId, msg: QuorumMessage): void {
    if (!this.heldBehindSync(to, msg)) this.o.transport.send(to, msg);
  }

  private broadcastTo(to: readonly ServerId[], msg: QuorumMessage): void {
    let direct: ServerId[] | null = null;
    for (const sid of to) if (!this.heldBehindSync(sid, msg)) (direct ??= []).push(sid);
    if (direct) this.o.transport.broadcast(direct, msg);
  }

  private dropOutbox(sid: ServerId): void {
    const box = this.outboxes.get(sid);
    if (box) box.abort = true;
    this.outboxes.delete(sid);
  }

  /**
   * Streams a learner's sync. What it consists of is fixed now, synchronously: the committed part
   * (read from the log later), the uncommitted tail (copied now from memory) and the snapshot (taken
   * now). Messages sent to the learner meanwhile queue behind it.
   */
  private syncLearner(sid: ServerId, plan: SyncPlan, upTo: Zxid): void {
    const applied = this.o.app.lastApplied();
    const from0 = plan.mode === 'DIFF' ? plan.from : plan.mode === 'TRUNC' ? plan.to : applied;
    if (plan.mode !== 'SNAP' && from0 < applied && from0 < this.purgedUpTo) {
      // The log no longer reaches back that far: send the state instead.
      this.o.logger.info({ peer: sid, plan: plan.mode, from: formatZxid(from0), purgedUpTo: formatZxid(this.purgedUpTo) }, 'log purged below the sync point; sending SNAP');
      plan = { mode: 'SNAP' };
    }
    let from: Zxid;
    const head: QuorumMessage[] = [];
    let snapshot: Uint8Array | null = null;
    let snapshotJob: IncrementalSnapshot | null = null;
    if (plan.mode === 'DIFF') {
      from = plan.from;
      head.push({ type: 'DIFF', zxid: upTo });
    } else if (plan.mode === 'TRUNC') {
      from = plan.to;
      head.push({ type: 'TRUNC', zxid: plan.to });
    } else {
      from = applied;
      if (this.o.sliceMs !== undefined && this.o.app.beginSnapshot) {
        // Serialising a million znodes takes seconds: in slices (copy on write keeps it at `applied`);
        // the SNAP header, which carries the size, follows once it is written.
        snapshotJob = this.o.app.beginSnapshot();
      } else {
        snapshot = this.o.app.snapshot();
        head.push({ type: 'SNAP', zxid: applied, size: snapshot.length });
      }
    }
    const tail: Txn[] = [];
    for (let i = this.unappliedHead; i < this.unapplied.length; i++) {
      const t = this.unapplied[i]!;
      if (t.zxid > from && t.zxid > applied && t.zxid <= upTo) tail.push(t);
    }
    const committedFrom = from;
    const committedTo = applied < upTo ? applied : upTo;
    const box: Outbox = { streaming: true, queued: [], abort: false };
    this.dropOutbox(sid);
    this.outboxes.set(sid, box);
    const chunkBytes = this.o.snapshotChunkBytes ?? 1 << 20;
    // Bulk data goes out no faster than the connection takes it (its queue is bounded).
    const paced = async (): Promise<boolean> => {
      const w = this.o.transport.whenWritable;
      if (w && !(await w.call(this.o.transport, sid, SYNC_LOW_WATER_BYTES))) return false;
      return !box.abort && !this.stopped;
    };
    const stream = async (): Promise<void> => {
      if (snapshotJob) {
        const job = snapshotJob;
        const t0 = performance.now();
        const slices = await this.inSlices((ms) => job.step(ms), () => box.abort);
        if (slices === null) return job.cancel();
        snapshot = job.bytes();
        head.push({ type: 'SNAP', zxid: job.zxid, size: snapshot.length });
        this.o.logger.info({ peer: sid, zxid: formatZxid(job.zxid), bytes: snapshot.length, slices, ms: Math.round(performance.now() - t0) }, 'snapshot for learner written');
      }
      for (const m of head) this.o.transport.send(sid, m);
      if (snapshot) {
        for (let off = 0; off < snapshot.length || off === 0; off += chunkBytes) {
          if (!(await paced())) return;
          const data = snapshot.subarray(off, Math.min(off + chunkBytes, snapshot.length));
          const last = off + chunkBytes >= snapshot.length;
          this.o.transport.send(sid, { type: 'SNAPCHUNK', offset: off, data, last });
          if (last) break;
        }
      }
      if (committedFrom < committedTo) {
        let expected = committedFrom;
        for await (const batch of this.o.log.read(committedFrom, committedTo)) {
          if (box.abort || this.stopped) return;
          if (batch.length === 0) continue;
          for (let i = 0; i < batch.length; i += this.maxBatch) {
            if (!(await paced())) return;
            const txns = batch.slice(i, i + this.maxBatch).map((r) => ({ zxid: r.zxid, data: r.data }));
            this.o.transport.send(sid, { type: 'PROPOSAL', txns });
            this.o.transport.send(sid, { type: 'COMMIT', zxid: txns[txns.length - 1]!.zxid });
            expected = txns[txns.length - 1]!.zxid;
          }
        }
        if (expected !== committedTo) throw new Error(`log read for sync ended at ${formatZxid(expected)}, wanted ${formatZxid(committedTo)}`);
      }
      for (let i = 0; i < tail.length; i += this.maxBatch) {
        if (!(await paced())) return;
        this.o.transport.send(sid, { type: 'PROPOSAL', txns: tail.slice(i, i + this.maxBatch) });
      }
    };
    stream()
      .then(() => {
        if (box.abort || this.stopped) return;
        box.streaming = false;
        for (const m of box.queued) this.o.transport.send(sid, m);
        box.queued = [];
      })
      .catch((err: unknown) => {
        // The log cannot serve this range (a corrupt or missing record): from now on, learners that
        // far behind get a snapshot instead of a DIFF that would fail again.
        if (committedTo > this.purgedUpTo) this.purgedUpTo = committedTo;
        this.o.logger.error(
          { err, peer: sid, snapBelow: formatZxid(this.purgedUpTo) },
          'sync stream failed; dropping the learner (it will reconnect and get a SNAP); check this server\'s txn log',
        );
        this.dropOutbox(sid);
        this.o.transport.close(sid, 'sync stream failed');
        this.send({ type: 'PEER_DISCONNECTED', sid });
      });
  }

  // ---------------------------------------------------------------- log and storage, in order

  private extendRanges(ranges: LogHistory['ranges'], z: Zxid): void {
    const e = epochOf(z);
    const c = counterOf(z);
    const last = ranges[ranges.length - 1];
    if (last && last.epoch === e) last.last = c;
    else ranges.push({ epoch: e, first: c, last: c });
  }

  private appendTxns(txns: readonly Txn[]): void {
    if (txns.length === 0) return;
    const records: LogRecord[] = [];
    for (const t of txns) {
      if (t.zxid <= this.lastQueued) {
        // A redundant proposal (TLA+ finding: followers must tolerate it) is already in the log.
        continue;
      }
      this.unapplied.push(t);
      records.push(t);
      this.lastQueued = t.zxid;
    }
    if (records.length > 0) this.enqueueStorage({ kind: 'append', records });
  }

  private truncate(zxid: Zxid): void {
    if (this.o.app.lastApplied() > zxid) {
      this.o.logger.fatal(
        { applied: formatZxid(this.o.app.lastApplied()), trunc: formatZxid(zxid) },
        'leader asked to truncate below what was applied: invariant breach',
      );
    }
    while (this.unapplied.length > this.unappliedHead && this.unapplied[this.unapplied.length - 1]!.zxid > zxid) this.unapplied.pop();
    if (this.lastQueued > zxid) this.lastQueued = zxid;
    this.enqueueStorage({ kind: 'truncate', zxid });
  }

  private installSnapshot(zxid: Zxid): void {
    const total = this.snapshotChunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(total);
    let off = 0;
    for (const c of this.snapshotChunks) {
      data.set(c, off);
      off += c.length;
    }
    this.snapshotChunks = [];
    this.o.app.discardPending();
    this.unapplied = [];
    this.unappliedHead = 0;
    this.lastQueued = zxid;
    this.restoring?.cancel();
    this.restoring = null;
    const { app } = this.o;
    if (this.o.sliceMs !== undefined && app.beginRestore) {
      // Restored in slices, so that this server keeps answering its leader; what commits meanwhile
      // waits (deliver) until the snapshot is in.
      const job = app.beginRestore(data, zxid);
      this.restoring = job;
      const t0 = performance.now();
      this.inSlices((ms) => job.step(ms), () => this.restoring !== job)
        .then((slices) => {
          if (slices === null) return;
          this.restoring = null;
          this.o.logger.info({ zxid: formatZxid(zxid), bytes: data.length, slices, ms: Math.round(performance.now() - t0) }, 'snapshot from the leader restored');
          this.o.observer?.restored?.(this.sid, zxid);
          this.applyBacklog();
        })
        .catch((err: unknown) => {
          this.restoring = null;
          this.o.logger.fatal({ err, zxid: formatZxid(zxid) }, "the leader's snapshot cannot be restored; stopping");
          this.o.onFatal?.(err);
          this.stop();
        });
    } else {
      app.restore(data, zxid);
      this.o.observer?.restored?.(this.sid, zxid);
    }
    this.enqueueStorage({ kind: 'snapshot', zxid, data });
  }

  /**
   * Runs `step` (true once done) a slice of sliceMs at a time, the event loop served between slices.
   * Resolves with the number of slices, or null if the server stopped or `abandoned()` first.
   */
  private async inSlices(step: (budgetMs: number) => boolean, abandoned: () => boolean): Promise<number | null> {
    const ms = this.o.sliceMs ?? Infinity;
    for (let slices = 1; ; slices++) {
      if (this.stopped || abandoned()) return null;
      if (step(ms)) return slices;
      await new Promise<void>((resolve) => this.defer(resolve));
    }
  }

  private defer(fn: () => void): void {
    if (this.o.defer) this.o.defer(fn);
    else setImmediate(fn);
  }

  private enqueueStorage(op: StorageOp): void {
    // Consecutive appends merge: one write and one sync for all of them (group commit).
    const last = this.storageQueue[this.storageQueue.length - 1];
    if (op.kind === 'append' && last?.kind === 'append' && last.records.length < this.maxBatch * 4) {
      for (const r of op.records) last.records.push(r);
    } else this.storageQueue.push(op);
    if (!this.storageBusy) void this.runStorage();
  }

  private async runStorage(): Promise<void> {
    this.storageBusy = true;
    try {
      while (this.storageQueue.length > 0 && !this.stopped) {
        const op = this.storageQueue.shift()!;
        switch (op.kind) {
          case 'append': {
            await this.o.log.append(op.records);
            const z = op.records[op.records.length - 1]!.zxid;
            for (const r of op.records) this.extendRanges(this.history.ranges, r.zxid);
            if (z > this.lastDurable) this.lastDurable = z;
            this.send({ type: 'LOG_SYNCED', zxid: z });
            break;
          }
          case 'truncate': {
            await this.o.log.truncateAfter(op.zxid);
            this.history = truncateRanges(this.history, op.zxid);
            if (this.lastDurable > op.zxid) this.lastDurable = op.zxid;
            this.send({ type: 'TRUNCATED', zxid: op.zxid });
            break;
          }
          case 'snapshot': {
            // Snapshot first, then drop the old log: a crash between leaves a newer snapshot and an
            // old log whose records the snapshot covers or the next sync truncates.
            await this.o.snapshots.save({ zxid: op.zxid, data: op.data });
            await this.o.log.truncateAfter(0n);
            this.history = { base: op.zxid, ranges: [] };
            this.lastDurable = op.zxid;
            this.send({ type: 'SNAPSHOT_INSTALLED', zxid: op.zxid });
            break;
          }
          case 'barrier':
            op.done();
            break;
        }
      }
    } catch (err) {
      // A storage failure means we can no longer promise durability: stop serving at once.
      this.o.logger.fatal({ err }, 'storage failed; stopping this server (check the disk, then restart it)');
      this.o.onFatal?.(err);
      this.stop();
    } finally {
      this.storageBusy = false;
    }
  }

  private async persistEpoch(which: 'accepted' | 'current', epoch: number): Promise<void> {
    try {
      if (which === 'accepted') {
        await this.o.epochs.setAcceptedEpoch(epoch);
        this.send({ type: 'ACCEPTED_EPOCH_PERSISTED', epoch });
      } else {
        await this.o.epochs.setCurrentEpoch(epoch);
        this.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch });
      }
    } catch (err) {
      this.o.logger.fatal({ err, which, epoch }, 'could not persist epoch; stopping this server (check the disk, then restart it)');
      this.o.onFatal?.(err);
      this.stop();
    }
  }

  // ---------------------------------------------------------------- leader: proposals

  private propose(first: Zxid, requests: readonly ForwardedRequest[], to: readonly ServerId[]): void {
    const { app } = this.o;
    const txns: Txn[] = new Array(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const zxid = first + BigInt(i);
      const r = requests[i]!;
      txns[i] = { zxid, data: encodeEnvelope(r.id, app.prepare(r.data, zxid)) };
    }
    const epoch = epochOf(first);
    if (this.o.observer?.proposed) for (const t of txns) this.o.observer.proposed(this.sid, epoch, t);
    if (to.length > 0) this.broadcastTo(to, { type: 'PROPOSAL', txns });
    this.appendTxns(txns);
  }

  // ---------------------------------------------------------------- applying committed txns

  /** Applies the committed txns up to `upTo`, in order: now, or once a restore or earlier backlog is done. */
  private deliver(upTo: Zxid): void {
    if (upTo > this.applyTarget) this.applyTarget = upTo;
    if (this.restoring === null && !this.applyScheduled) this.applyBacklog();
  }

  /** Applies up to applyTarget; with sliceMs, a big backlog a slice at a time (the rest deferred). */
  private applyBacklog(): void {
    const { app } = this.o;
    const upTo = this.applyTarget;
    // A backlog is timed only when it is long enough to be checked (every 256 txns): a normal batch
    // never reads the clock.
    const long = this.o.sliceMs !== undefined && this.unapplied.length - this.unappliedHead > 256;
    const end = long ? performance.now() + this.o.sliceMs! : Infinity;
    let n = 0;
    while (this.unappliedHead < this.unapplied.length) {
      const t = this.unapplied[this.unappliedHead]!;
      if (t.zxid > upTo) break;
      if ((++n & 255) === 0 && long && performance.now() >= end) {
        this.applyScheduled = true;
        this.applySlices++;
        this.defer(() => {
          this.applyScheduled = false;
          if (!this.stopped && this.restoring === null) this.applyBacklog();
        });
        break;
      }
      this.unappliedHead++;
      if (t.zxid <= app.lastApplied()) continue;
      let env;
      try {
        env = decodeEnvelope(t.data);
      } catch (err) {
        this.o.logger.fatal({ err, zxid: formatZxid(t.zxid) }, 'committed txn is unreadable; stopping');
        this.stop();
        return;
      }
      const w = env.id ? this.waiters.get(env.id) : undefined;
      const result = app.apply(t.zxid, env.op, w !== undefined);
      this.o.observer?.delivered?.(this.sid, t);
      if (w) {
        this.waiters.delete(env.id);
        w.resolve({ zxid: t.zxid, result });
      }
    }
    if (!this.applyScheduled) this.applySlices = 0;
    if (this.unappliedHead > 4096 && this.unappliedHead * 2 > this.unapplied.length) {
      this.unapplied = this.unapplied.slice(this.unappliedHead);
      this.unappliedHead = 0;
    }
    if (this.syncWaiters.length > 0) {
      const applied = app.lastApplied();
      const ready = this.syncWaiters.filter((w) => w.zxid <= applied);
      this.syncWaiters = this.syncWaiters.filter((w) => w.zxid > applied);
      for (const w of ready) w.resolve(applied);
    }
  }

  private whenApplied(zxid: Zxid, fn: (z: Zxid) => void): void {
    const applied = this.o.app.lastApplied();
    if (applied >= zxid) fn(applied);
    else this.syncWaiters.push({ zxid, resolve: fn });
  }

  // ---------------------------------------------------------------- leaving a role

  private quiesce(reason: string): void {
    this.silence.clearAll();
    this.o.transport.closeAll(reason);
    for (const box of this.outboxes.values()) box.abort = true;
    this.outboxes.clear();
    this.snapshotChunks = [];
    this.o.app.discardPending();
    // Requests in flight have an unknown outcome now: the client must find out (or retry).
    this.failAllWaiters(`connection loss: ${reason}`);
    this.enqueueStorage({
      kind: 'barrier',
      done: () => {
        const history = cloneHistory(this.history);
        if (this.purgedUpTo > history.base) history.base = this.purgedUpTo;
        this.send({ type: 'QUIESCED', lastLogged: this.lastDurable, history });
      },
    });
  }

  private rejectWaiter(id: string, reason: string): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    this.syncIds.delete(id);
    w.reject(new RequestRejected(reason));
  }

  private failAllWaiters(reason: string): void {
    const waiters = [...this.waiters.entries()];
    this.waiters.clear();
    this.syncIds.clear();
    this.syncWaiters = [];
    for (const [, w] of waiters) w.reject(new RequestRejected(reason));
  }
}

function cloneHistory(h: LogHistory): LogHistory {
  return { base: h.base, ranges: h.ranges.map((r) => ({ ...r })) };
}

function truncateRanges(h: LogHistory, z: Zxid): LogHistory {
  const ranges: LogHistory['ranges'] = [];
  for (const r of h.ranges) {
    const lo = makeZxid(r.epoch, r.first);
    if (lo > z) break;
    const hi = makeZxid(r.epoch, r.last);
    ranges.push(hi <= z ? { ...r } : { epoch: r.epoch, first: r.first, last: counterOf(z) });
  }
  return { base: h.base < z ? h.base : z, ranges };
}
