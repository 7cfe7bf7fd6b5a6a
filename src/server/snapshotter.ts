/**
 * Periodic snapshots, as ZooKeeper takes them: after a randomised number of applied txns (between
 * snapCount/2 and snapCount, re-rolled after each snapshot, so servers of one ensemble do not all
 * snapshot at once), the app's state is serialised synchronously at the txn just applied (a committed
 * point), then written asynchronously so the pipeline never waits for the disk. After a write, log
 * segments older than the oldest snapshot kept (the snapshot store keeps snapRetainCount) are purged.
 */
import type { Logger } from 'pino';
import type { ReplicatedStateMachine } from '../app/state-machine.js';
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
    const t0 = performance.now();
    const data = this.o.app.snapshot(); // synchronous: the event loop waits for it
    const serializeMs = Math.round(performance.now() - t0);
    this.writing = this.write(zxid, data, serializeMs).finally(() => {
      this.writing = null;
    });
  }

  private async write(zxid: Zxid, data: Uint8Array, serializeMs: number): Promise<void> {
    const { logger } = this.o;
    const t0 = performance.now();
    try {
      await this.o.snapshots.save({ zxid, data });
      this.taken++;
      logger.info({ zxid: formatZxid(zxid), bytes: data.length, serializeMs, ms: Math.round(performance.now() - t0) }, 'snapshot written');
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
