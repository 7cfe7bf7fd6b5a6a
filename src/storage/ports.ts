/**
 * Storage ports. The server runs them over disk (src/storage/disk-*.ts); the simulator over an
 * in-memory model that loses unsynced writes on a crash. Every mutating call resolves only when
 * the change is durable.
 */
import type { Zxid } from '../zxid.js';

export interface LogRecord {
  zxid: Zxid;
  data: Uint8Array;
}

export interface TxnLog {
  /** Last durable zxid in the log (0n when empty). */
  lastZxid(): Zxid;
  /** First zxid still retained in the log (0n when empty). */
  firstZxid(): Zxid;
  /**
   * Appends records with strictly increasing zxids above lastZxid(). Resolves when they are durable
   * (fdatasync). Concurrent calls are group-committed: one write and one sync for all of them.
   */
  append(records: readonly LogRecord[]): Promise<void>;
  /** Records with zxid > after and zxid <= upTo (inclusive), in order. */
  read(after: Zxid, upTo?: Zxid): AsyncIterable<LogRecord[]>;
  /** Durably removes every record with zxid > zxid (TRUNC). */
  truncateAfter(zxid: Zxid): Promise<void>;
  /** Removes whole segments whose records are all <= zxid (after a snapshot at zxid is retained). */
  purgeUpTo(zxid: Zxid): Promise<void>;
  close(): Promise<void>;
}

export interface SnapshotMeta {
  /** Every txn up to and including this zxid is folded into the snapshot. */
  zxid: Zxid;
}

export interface Snapshot extends SnapshotMeta {
  data: Uint8Array;
}

export interface SnapshotStore {
  /** Writes atomically (temp file, fsync, rename, directory fsync) and keeps the newest `retain`. */
  save(snapshot: Snapshot): Promise<void>;
  /** The newest snapshot that passes its checksum; invalid ones are reported and skipped. */
  loadNewest(): Promise<Snapshot | null>;
  /** Metadata of the valid snapshots present, oldest first. */
  list(): Promise<SnapshotMeta[]>;
}

export interface Epochs {
  acceptedEpoch: number;
  currentEpoch: number;
}

export interface EpochStore {
  load(): Promise<Epochs>;
  setAcceptedEpoch(epoch: number): Promise<void>;
  setCurrentEpoch(epoch: number): Promise<void>;
}
