/**
 * Periodic snapshots, as ZooKeeper takes them: after a randomised number of applied txns (between
 * snapCount/2 and snapCount, re-rolled after each snapshot, so servers of one ensemble do not all
 * snapshot at once), the app's state is captured at the txn just applied (a committed point) and
 * written asynchronously so the pipeline never waits for the disk. An app with beginSnapshot() (the
 * data tree) is serialised in slices of `sliceMs` between which the event loop serves the network and
 * applies txns (copy on write keeps the snapshot at its zxid): a large tree no longer stalls the server
 * for the whole serialisation (at a million znodes that stall outlasted syncLimit and cost the leader
 * its followers). Other apps are serialised in one go. After a write, log segments older than the
 * oldest snapshot kept (the snapshot store keeps snapRetainCount) are purged.
 */
import type { Logger } from 'pino';
import type { IncrementalSnapshot, ReplicatedStateMachine } from '../app/state-machine.js';
import type { SnapshotStore, TxnLog } from '../storage/ports.js';
import { formatZxid, type Zxid } from '../zxid.js';

export interface SnapshotterOptions {
  app: ReplicatedStateMachine;
  snapshots: SnapshotStore;
  log: TxnLog;
  snapCount: number;
  logger: Logger;
  random?: () => number;
  /** told after log segments up to this zxid may have been purged (the runtime stops offering DIFF from below it) */
  onPurged?: (zxid: Zxid) => void;
  /** CPU per slice of an incremental snapshot before the event loop gets a turn (default 5 ms) */
  sliceMs?: number;
  /** runs the next slice (default setImmediate: after the I/O already waiting) */
  defer?: (fn: () => void) => void;
}

interface Captured {
  data: Uint8Array;
  /** CPU spent serialising, over all slices */
  serializeMs: number;
  slices: number;
}

export class Snapshotter {
  private sinceLast = 0;
  private threshold: number;
  private writing: Promise<void> | null = null;
  private stopped = false;
  /** snapshots written by this server run */
  taken = 0;

  constructor(private readonly o: SnapshotterOptions) {
    this.threshold = this.roll();
  }

  private roll(): number {
    const half = Math.max(1, Math.floor(this.o.snapCount / 2));
    return half + Math.floor((this.o.random ?? Math.random)() * (this.o.snapCount - half + 1));
  }

  /** Called right after `zxid` was applied (the app's state is exactly at zxid). */
  onApplied(zxid: Zxid): void {
    if (this.stopped) return;
    this.sinceLast++;
    if (this.sinceLast < this.threshold || this.writing) return;
    if (this.o.app.lastApplied() !== zxid) return; // not at a txn boundary we know; try on the next one
    this.sinceLast = 0;
    this.threshold = this.roll();
    const capture = this.o.app.beginSnapshot ? this.inSlices(this.o.app.beginSnapshot()) : this.inOneGo();
    this.writing = capture
      .then((c) => (c ? this.write(zxid, c.data, c.serializeMs, c.slices) : undefined))
      .finally(() => {
        this.writing = null;
      });
  }

  private inOneGo(): Promise<Captured> {
    const t0 = performance.now();
    const data = this.o.app.snapshot(); // synchronous: the event loop waits for it
    return Promise.resolve({ data, serializeMs: Math.round(performance.now() - t0), slices: 1 });
  }

  /** Steps the snapshot a slice at a time, giving the event loop a turn between slices; null if stopped. */
  private inSlices(job: IncrementalSnapshot): Promise<Captured | null> {
    const sliceMs = this.o.sliceMs ?? 5;
    const defer = this.o.defer ?? ((fn: () => void) => void setImmediate(fn));
    let busy = 0;
    let slices = 0;
    return new Promise((resolve) => {
      const slice = (): void => {
        if (this.stopped) {
          job.cancel();
          resolve(null);
          return;
        }
        const t0 = performance.now();
        let done: boolean;
        try {
          done = job.step(sliceMs);
        } catch (err) {
          job.cancel();
          this.o.logger.error({ err }, 'snapshot failed while serialising; the txn log still has every txn');
          resolve(null);
          return;
        }
        busy += performance.now() - t0;
        slices++;
        if (!done) return defer(slice);
        const t1 = performance.now();
        const data = job.bytes();
        busy += performance.now() - t1;
        resolve({ data, serializeMs: Math.round(busy), slices });
      };
      slice();
    });
  }

  private async write(zxid: Zxid, data: Uint8Array, serializeMs: number, slices: number): Promise<void> {
    const { logger } = this.o;
    const t0 = performance.now();
    try {
      await this.o.snapshots.save({ zxid, data });
      this.taken++;
      logger.info({ zxid: formatZxid(zxid), bytes: data.length, serializeMs, slices, ms: Math.round(performance.now() - t0) }, 'snapshot written');
      if (this.stopped) return;
      const kept = await this.o.snapshots.list();
      const oldest = kept[0];
      if (oldest && kept.length > 1) {
        this.o.onPurged?.(oldest.zxid);
        await this.o.log.purgeUpTo(oldest.zxid);
        logger.debug({ upTo: formatZxid(oldest.zxid) }, 'purged log segments older than the oldest snapshot kept');
      }
    } catch (err) {
      // A failed snapshot is not fatal: the log still holds everything. Say so and carry on.
      logger.error({ err, zxid: formatZxid(zxid) }, 'snapshot failed; the txn log still has every txn (check free space and permissions of dataDir)');
    }
  }

  /** Waits for a snapshot write in flight; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.writing;
  }
}
