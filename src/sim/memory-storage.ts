/**
 * In-memory storage ports on a simulated disk. Each store keeps two images: `written` (what the
 * process sees, like the page cache) and `durable` (what survives a crash). A mutation changes
 * `written` at once and joins the store's sync queue; a sync takes everything queued so far (group
 * commit: calls arriving while a sync is in flight go into the next one), completes after a random
 * latency on the scheduler, folds the batch into `durable`, and only then resolves the callers'
 * promises. So everything acknowledged survives SimDisk.crash(), and nothing unacknowledged is
 * guaranteed to, except that with `tornWrites` a prefix (in whole records) of unsynced log
 * appends may survive, as a torn write does once the partial last record is dropped on restart.
 */
import type { Zxid } from '../zxid.js';
import { formatZxid } from '../zxid.js';
import type { Epochs, EpochStore, LogRecord, Snapshot, SnapshotMeta, SnapshotStore, TxnLog } from '../storage/ports.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';
import type { LatencyRange } from './network.js';

export interface DiskOptions {
  /** Latency of one sync (write + fsync). Default 0.1..1 ms. */
  syncLatency?: LatencyRange;
  /** Probability that a sync is slow instead. Default 0. */
  slowProbability?: number;
  /** Latency of a slow sync. Default 20..200 ms. */
  slowLatency?: LatencyRange;
  /** On crash, a random prefix (in whole records) of the unsynced log appends survives. Default false. */
  tornWrites?: boolean;
  /** Snapshots kept by SnapshotStore.save. Default 3. */
  snapshotRetain?: number;
}

export interface SimStores {
  log: SimTxnLog;
  snapshots: SimSnapshotStore;
  epochs: SimEpochStore;
}

/** A promise that never settles: what a call into a crashed process's storage looks like. */
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

interface Op {
  applyDurable: () => void;
  resolve: () => void;
  /** Set for log appends: the records a torn write may partially keep. */
  records?: readonly LogRecord[];
}

/** One file's sync pipeline: at most one sync in flight; everything queued meanwhile goes in the next. */
class SyncQueue {
  private queued: Op[] = [];
  private inflight: Op[] = [];

  constructor(private readonly disk: SimDisk) {}

  submit(applyDurable: () => void, records?: readonly LogRecord[]): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queued.push({ applyDurable, resolve, records });
      if (this.inflight.length === 0) this.startSync();
    });
  }

  /** Operations not yet durable, oldest first. */
  unsynced(): Op[] {
    return [...this.inflight, ...this.queued];
  }

  reset(): void {
    this.queued = [];
    this.inflight = [];
  }

  private startSync(): void {
    const batch = this.queued;
    this.queued = [];
    this.inflight = batch;
    const gen = this.disk.generation();
    this.disk.scheduler.after(this.disk.drawSyncLatency(), () => {
      if (gen !== this.disk.generation()) return; // crashed meanwhile: the batch is lost
      this.inflight = [];
      for (const op of batch) op.applyDurable();
      for (const op of batch) op.resolve();
      if (this.queued.length > 0) this.startSync();
    }, 'disk.sync');
  }
}

// ---- files: the durable and written images, surviving across incarnations ----

class LogFile {
  durable: LogRecord[] = [];
  written: LogRecord[] = [];
  readonly sync: SyncQueue;
  constructor(disk: SimDisk) {
    this.sync = new SyncQueue(disk);
  }
}

interface SnapEntry {
  snapshot: Snapshot;
  valid: boolean;
}

class SnapFile {
  durable: SnapEntry[] = [];
  written: SnapEntry[] = [];
  readonly sync: SyncQueue;
  constructor(disk: SimDisk) {
    this.sync = new SyncQueue(disk);
  }
}

class EpochFile {
  durable: Epochs = { acceptedEpoch: 0, currentEpoch: 0 };
  written: Epochs = { acceptedEpoch: 0, currentEpoch: 0 };
  readonly sync: SyncQueue;
  constructor(disk: SimDisk) {
    this.sync = new SyncQueue(disk);
  }
}

/** Index of the first record with zxid > z (records sorted by zxid). */
function upperBound(records: readonly LogRecord[], z: Zxid): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((records[mid] as LogRecord).zxid <= z) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One node's disk: its log, snapshots and epoch files. Survives the node's crashes. */
export class SimDisk {
  readonly options: Required<DiskOptions>;
  private gen = 0;
  private forceSlow = false;
  private readonly logFile: LogFile;
  private readonly snapFile: SnapFile;
  private readonly epochFile: EpochFile;

  constructor(
    readonly scheduler: Scheduler,
    private readonly prng: Prng,
    opts: DiskOptions = {},
  ) {
    this.options = {
      syncLatency: opts.syncLatency ?? { min: 0.1, max: 1 },
      slowProbability: opts.slowProbability ?? 0,
      slowLatency: opts.slowLatency ?? { min: 20, max: 200 },
      tornWrites: opts.tornWrites ?? false,
      snapshotRetain: opts.snapshotRetain ?? 3,
    };
    this.logFile = new LogFile(this);
    this.snapFile = new SnapFile(this);
    this.epochFile = new EpochFile(this);
  }

  /** Incarnation counter: bumped by crash(); handles of older incarnations are dead. */
  generation(): number {
    return this.gen;
  }

  /** Port handles for the current incarnation (after a crash: exactly the durable contents). */
  open(): SimStores {
    return {
      log: new SimTxnLog(this, this.logFile, this.gen),
      snapshots: new SimSnapshotStore(this, this.snapFile, this.gen),
      epochs: new SimEpochStore(this, this.epochFile, this.gen),
    };
  }

  /**
   * Power loss / process kill: every unsynced write is lost (a torn prefix of log appends may
   * survive), pending promises never settle, and the current handles die. Call open() to restart.
   */
  crash(): void {
    this.gen++;
    const log = this.logFile;
    if (this.options.tornWrites) {
      // Unsynced appends up to the first non-append op, as one byte stream cut at a random record.
      const tail: LogRecord[] = [];
      for (const op of log.sync.unsynced()) {
        if (!op.records) break;
        tail.push(...op.records);
      }
      const keep = tail.length > 0 ? this.prng.int(0, tail.length) : 0;
      log.durable.push(...tail.slice(0, keep));
    }
    log.written = [...log.durable];
    this.snapFile.written = [...this.snapFile.durable];
    this.epochFile.written = { ...this.epochFile.durable };
    for (const f of [log, this.snapFile, this.epochFile]) f.sync.reset();
  }

  /** Forces every sync to take the slow latency (a degraded disk) until turned off. */
  setSlow(slow: boolean): void {
    this.forceSlow = slow;
  }

  drawSyncLatency(): number {
    const slow = this.forceSlow || (this.options.slowProbability > 0 && this.prng.chance(this.options.slowProbability));
    const r = slow ? this.options.slowLatency : this.options.syncLatency;
    return r.max > r.min ? this.prng.range(r.min, r.max) : r.min;
  }

  /** Bit rot: the newest durable snapshot fails its checksum from now on. Returns false if none. */
  corruptNewestSnapshot(): boolean {
    const last = this.snapFile.durable[this.snapFile.durable.length - 1];
    if (!last) return false;
    last.valid = false; // entries are shared with `written` until replaced, so both see it
    return true;
  }

  // ---- inspection for tests and the simulator's checks ----

  durableLog(): readonly LogRecord[] {
    return this.logFile.durable;
  }

  durableEpochs(): Epochs {
    return { ...this.epochFile.durable };
  }

  durableSnapshots(): readonly SnapshotMeta[] {
    return this.snapFile.durable.filter((e) => e.valid).map((e) => ({ zxid: e.snapshot.zxid }));
  }
}

/** Base for the handles: a handle of a crashed incarnation neither acts nor settles. */
abstract class Handle {
  constructor(
    protected readonly disk: SimDisk,
    private readonly gen: number,
  ) {}

  protected get alive(): boolean {
    return this.disk.generation() === this.gen;
  }
}

export class SimTxnLog extends Handle implements TxnLog {
  private closed = false;

  constructor(disk: SimDisk, private readonly file: LogFile, gen: number) {
    super(disk, gen);
  }

  /** Last durable zxid (appends still syncing are not counted; see writtenZxid). */
  lastZxid(): Zxid {
    return this.file.durable[this.file.durable.length - 1]?.zxid ?? 0n;
  }

  /** Last written zxid, including appends whose sync has not completed. */
  writtenZxid(): Zxid {
    return this.file.written[this.file.written.length - 1]?.zxid ?? 0n;
  }

  firstZxid(): Zxid {
    return this.file.durable[0]?.zxid ?? 0n;
  }

  append(records: readonly LogRecord[]): Promise<void> {
    if (!this.alive) return never();
    this.checkOpen();
    let prev = this.writtenZxid();
    for (const r of records) {
      if (r.zxid <= prev) return Promise.reject(new RangeError(`log append out of order: ${formatZxid(r.zxid)} after ${formatZxid(prev)}`));
      prev = r.zxid;
    }
    const copies = records.map((r) => ({ zxid: r.zxid, data: r.data.slice() }));
    this.file.written.push(...copies);
    return this.file.sync.submit(() => this.file.durable.push(...copies), copies);
  }

  /** Reads the written image (as a real log reads through the page cache), in batches of up to 1000. */
  async *read(after: Zxid, upTo?: Zxid): AsyncIterable<LogRecord[]> {
    if (!this.alive) return;
    const recs = this.file.written;
    const start = upperBound(recs, after);
    const end = upTo === undefined ? recs.length : upperBound(recs, upTo);
    const slice = recs.slice(start, end); // fixed at the first next(), like an open file range
    for (let i = 0; i < slice.length; i += 1000) yield slice.slice(i, i + 1000);
  }

  truncateAfter(zxid: Zxid): Promise<void> {
    if (!this.alive) return never();
    this.checkOpen();
    const cut = (recs: LogRecord[]) => void recs.splice(upperBound(recs, zxid));
    cut(this.file.written);
    return this.file.sync.submit(() => cut(this.file.durable));
  }

  /** The simulated log has no segments: every record <= zxid goes. */
  purgeUpTo(zxid: Zxid): Promise<void> {
    if (!this.alive) return never();
    this.checkOpen();
    const purge = (recs: LogRecord[]) => void recs.splice(0, upperBound(recs, zxid));
    purge(this.file.written);
    return this.file.sync.submit(() => purge(this.file.durable));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('txn log is closed');
  }
}

export class SimSnapshotStore extends Handle implements SnapshotStore {
  constructor(disk: SimDisk, private readonly file: SnapFile, gen: number) {
    super(disk, gen);
  }

  save(snapshot: Snapshot): Promise<void> {
    if (!this.alive) return never();
    const entry: SnapEntry = { snapshot: { zxid: snapshot.zxid, data: snapshot.data.slice() }, valid: true };
    const retain = this.disk.options.snapshotRetain;
    const add = (list: SnapEntry[]): SnapEntry[] => {
      const next = [...list.filter((e) => e.snapshot.zxid !== entry.snapshot.zxid), entry];
      next.sort((a, b) => (a.snapshot.zxid < b.snapshot.zxid ? -1 : a.snapshot.zxid > b.snapshot.zxid ? 1 : 0));
      return next.slice(Math.max(0, next.length - retain));
    };
    this.file.written = add(this.file.written);
    return this.file.sync.submit(() => {
      this.file.durable = add(this.file.durable);
    });
  }

  async loadNewest(): Promise<Snapshot | null> {
    if (!this.alive) return never();
    for (let i = this.file.written.length - 1; i >= 0; i--) {
      const e = this.file.written[i] as SnapEntry;
      if (e.valid) return { zxid: e.snapshot.zxid, data: e.snapshot.data.slice() };
    }
    return null;
  }

  async list(): Promise<SnapshotMeta[]> {
    if (!this.alive) return never();
    return this.file.written.filter((e) => e.valid).map((e) => ({ zxid: e.snapshot.zxid }));
  }
}

export class SimEpochStore extends Handle implements EpochStore {
  constructor(disk: SimDisk, private readonly file: EpochFile, gen: number) {
    super(disk, gen);
  }

  /** Rejects, as the real store does, when acceptedEpoch < currentEpoch. */
  async load(): Promise<Epochs> {
    if (!this.alive) return never();
    const e = { ...this.file.written };
    if (e.acceptedEpoch < e.currentEpoch) throw new Error(`acceptedEpoch ${e.acceptedEpoch} < currentEpoch ${e.currentEpoch}`);
    return e;
  }

  setAcceptedEpoch(epoch: number): Promise<void> {
    return this.set('acceptedEpoch', epoch);
  }

  setCurrentEpoch(epoch: number): Promise<void> {
    return this.set('currentEpoch', epoch);
  }

  private set(field: keyof Epochs, epoch: number): Promise<void> {
    if (!this.alive) return never();
    this.file.written = { ...this.file.written, [field]: epoch };
    return this.file.sync.submit(() => {
      this.file.durable = { ...this.file.durable, [field]: epoch };
    });
  }
}
