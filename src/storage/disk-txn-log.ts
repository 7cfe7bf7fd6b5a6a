/**
 * The txn log on disk: segment files `log.<first zxid hex>` (layout in disk-log-format.ts), appended
 * with group commit. See docs/performance.md for figures.
 *
 * Concurrency: every mutation runs on one promise chain, so write+sync, truncation, purge and close
 * never overlap. append() does not queue a task per call: appends that arrive while a flush is in
 * flight (or in the same tick) join one open group, which goes out as ONE write and ONE fdatasync.
 *
 * Durability: a new segment is written under a temp name (header + first batch), fdatasync'ed, renamed
 * and the directory fsync'ed, so a segment file never exists without its header. truncateAfter deletes
 * later segments newest first (each unlink made durable) and then cuts the containing one, so any crash
 * leaves a prefix of the old log that still holds every record <= the truncation point.
 *
 * Preallocation: the active segment's file is extended ahead of the data (ftruncate, sparse) so that
 * an fdatasync after an append has no file size to commit, only data and the blocks under it (about a
 * third faster here, and less contention for the filesystem journal between servers on one disk). A
 * segment is cut back to its data before the next one starts and on close, so only the last segment
 * can end in zeros, after a crash; recovery cuts that padding off like a torn tail.
 *
 * Recovery on open verifies every header and fully scans the last segment (a torn tail is cut off and
 * logged; damage followed by a valid record is a LogCorruptionError). Older segments are verified when
 * read(): a checksum failure there throws LogCorruptionError.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogRecord, TxnLog } from './ports.js';
import { formatZxid, isZxid, type Zxid } from '../zxid.js';
import { LogCorruptionError, StorageFailedError } from './disk-errors.js';
import {
  closeFd,
  fdatasync,
  fsyncDir,
  ftruncate,
  openFd,
  removeTempFiles,
  TMP_SUFFIX,
  unlinkDurably,
  writeAll,
  writeAllSync,
} from './disk-fs.js';
import {
  clusterIdBytes,
  decodeSegmentHeader,
  encodeRecords,
  encodeSegmentHeader,
  MAX_RECORD_BYTES,
  MAX_SEGMENT_HEADER_BYTES,
  parseSegmentName,
  RECORD_HEADER_BYTES,
  scanSegment,
  segmentName,
} from './disk-log-format.js';
import { readSegment } from './disk-log-reader.js';

export interface DiskTxnLogOptions {
  /** Written into every segment header; opening a segment of another cluster is an error. */
  clusterId: string;
  /** Roll to a new segment once the current one holds at least this many bytes (default 64 MiB). */
  segmentBytes?: number;
  logger?: Logger;
  /** fdatasync/fsync before resolving (default true). Off only for tests and tools that accept data loss. */
  fsync?: boolean;
  /**
   * Groups up to this many bytes are fdatasync'ed on the calling thread (default 256 KiB, the groups
   * that are also written inline; 0: never). The thread pool's hand-off and completion wake-up cost
   * CPU and tens of microseconds of latency on a VM, more than the event loop gains by working during
   * the sync (alternating A/B at 4x64: 3-9% less server CPU per write); only very big groups (a
   * learner's sync) go to the pool, so the event loop is never held for long.
   */
  blockingSyncMaxBytes?: number;
}

/** Counters for tests and benchmarks. */
export interface TxnLogStats {
  appendCalls: number;
  /** Writes issued, one per group (a roll writes header and batch together). */
  flushes: number;
  /** fdatasync calls on segment files. */
  dataSyncs: number;
  /** fsync calls on the directory. */
  dirSyncs: number;
  bytesWritten: number;
}

interface Segment {
  first: Zxid;
  name: string;
}

/** Appends waiting to go out together. One promise per group, not per record or call. */
interface Group {
  records: LogRecord[];
  bytes: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** The active segment's file is extended this far ahead of its data (at most; see preallocStep). */
const PREALLOC_MAX_BYTES = 16 * 1024 * 1024;
const MAX_ZXID = (1n << 64n) - 1n;
const INLINE_WRITE_MAX_BYTES = 256 * 1024;
/** Groups written inline are synced inline too: measured, the thread pool's hand-offs cost more CPU than the wait. */
const DEFAULT_BLOCKING_SYNC_MAX_BYTES = INLINE_WRITE_MAX_BYTES;
/** A group stops taking appends at this size, bounding the write buffer; the next group follows it. */
const GROUP_MAX_BYTES = 16 * 1024 * 1024;

export class DiskTxnLog implements TxnLog {
  private readonly segments: Segment[];
  /** fd of the last segment (null when the log is empty). */
  private fd: number | null;
  /** Durable bytes of the last segment: where the next write goes. */
  private size: number;
  /** the active segment file's length: `size` plus the zeros preallocated after it */
  private allocated: number;
  private readonly preallocStep: number;
  /** Last durable zxid. */
  private last: Zxid;
  /** Last zxid accepted by append(), durable or queued: appends are validated against it. */
  private tail: Zxid;
  private chain: Promise<void> = Promise.resolve();
  private openGroup: Group | null = null;
  private scratch: Buffer | null = null;
  private failure: unknown = null;
  private closed = false;
  private readonly counters: TxnLogStats = { appendCalls: 0, flushes: 0, dataSyncs: 0, dirSyncs: 0, bytesWritten: 0 };
  /** Called with the duration of every fdatasync of a segment file (metrics). */
  onSync: ((seconds: number) => void) | null = null;

  private constructor(
    readonly dir: string,
    private readonly clusterId: string,
    private readonly segmentBytes: number,
    private readonly sync: boolean,
    private readonly logger: Logger,
    private readonly blockingSyncMax: number,
    state: { segments: Segment[]; fd: number | null; size: number; last: Zxid },
  ) {
    this.segments = state.segments;
    this.fd = state.fd;
    this.size = state.size;
    this.allocated = state.size;
    this.preallocStep = Math.max(64 * 1024, Math.min(PREALLOC_MAX_BYTES, segmentBytes));
    this.last = state.last;
    this.tail = state.last;
  }

  /** Opens (creating `dir` if needed) and recovers the log. */
  static async open(dir: string, opts: DiskTxnLogOptions): Promise<DiskTxnLog> {
    clusterIdBytes(opts.clusterId);
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isInteger(segmentBytes) || segmentBytes < 1) throw new RangeError(`segmentBytes must be a positive integer, got ${segmentBytes}`);
    const sync = opts.fsync ?? true;
    const logger = (opts.logger ?? pino({ name: 'zab' }, pino.destination(2))).child({ component: 'txn-log' });

    await fsp.mkdir(dir, { recursive: true });
    const removed = await removeTempFiles(dir, (n) => parseSegmentName(n) !== null, sync);
    // A temp segment never got renamed, so its append never resolved: dropping it loses nothing acknowledged.
    if (removed.length > 0) logger.warn({ dir, files: removed }, 'txn log: removed unfinished segment files left by a crash');

    const segments = await listSegments(dir);
    for (const s of segments) await checkHeader(path.join(dir, s.name), opts.clusterId);
    const tail = await recoverTail(dir, segments, opts.clusterId, sync, logger);
    const lastSeg = segments.at(-1);
    const fd = lastSeg ? await openFd(path.join(dir, lastSeg.name), 'r+') : null;
    const blockingSyncMax = opts.blockingSyncMaxBytes ?? DEFAULT_BLOCKING_SYNC_MAX_BYTES;
    if (!Number.isInteger(blockingSyncMax) || blockingSyncMax < 0)
      throw new RangeError(`blockingSyncMaxBytes must be a non-negative integer, got ${blockingSyncMax}`);
    return new DiskTxnLog(dir, opts.clusterId, segmentBytes, sync, logger, blockingSyncMax, { segments, fd, ...tail });
  }

  lastZxid(): Zxid {
    return this.last;
  }

  firstZxid(): Zxid {
    return this.segments[0]?.first ?? 0n;
  }

  get stats(): Readonly<TxnLogStats> {
    return { ...this.counters };
  }

  /**
   * Resolves when the records are durable. The caller must not modify record data until then (it is
   * copied into the write buffer only when the group goes out).
   */
  append(records: readonly LogRecord[]): Promise<void> {
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    if (records.length === 0) return Promise.resolve();
    let prev = this.tail;
    let bytes = 0;
    for (const r of records) {
      if (!isZxid(r.zxid) || r.zxid <= prev) {
        return Promise.reject(new RangeError(`append: zxid ${describe(r.zxid)} must be above ${formatZxid(prev)} (zxids must strictly increase)`));
      }
      if (!(r.data instanceof Uint8Array) || r.data.length > MAX_RECORD_BYTES) {
        return Promise.reject(new RangeError(`append: record ${formatZxid(r.zxid)} needs data as a Uint8Array of at most ${MAX_RECORD_BYTES} bytes`));
      }
      bytes += RECORD_HEADER_BYTES + r.data.length;
      prev = r.zxid;
    }
    this.tail = prev;
    this.counters.appendCalls++;
    let g = this.openGroup;
    if (g === null || g.bytes >= GROUP_MAX_BYTES) {
      g = newGroup();
      this.openGroup = g;
      const group = g;
      this.chain = this.chain.then(() => this.flush(group));
    }
    for (const r of records) g.records.push(r);
    g.bytes += bytes;
    return g.done;
  }

  async *read(after: Zxid, upTo: Zxid = MAX_ZXID): AsyncGenerator<LogRecord[]> {
    if (this.closed) throw new Error('txn log is closed');
    // A view of what is durable when iteration starts: later appends are not seen; records truncated or
    // purged while iterating may still be yielded, or the read fails on a deleted file.
    const segs = [...this.segments];
    const lastSize = this.size;
    let prev = 0n;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const next = segs[i + 1];
      if (next && next.first <= after + 1n) continue; // every record here is <= after
      if (seg.first > upTo) return;
      prev = yield* readSegment({
        file: path.join(this.dir, seg.name),
        clusterId: this.clusterId,
        firstZxid: seg.first,
        limit: next ? undefined : lastSize,
        after,
        upTo,
        prev,
      });
      if (prev > upTo) return;
    }
  }

  truncateAfter(zxid: Zxid): Promise<void> {
    if (!isZxid(zxid)) return Promise.reject(new RangeError(`truncateAfter: not a zxid: ${describe(zxid)}`));
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    if (zxid < this.tail) this.tail = zxid;
    this.openGroup = null; // appends made after this call go out after the truncation
    return this.exclusive('truncateAfter', () => this.doTruncate(zxid));
  }

  purgeUpTo(zxid: Zxid): Promise<void> {
    if (!isZxid(zxid)) return Promise.reject(new RangeError(`purgeUpTo: not a zxid: ${describe(zxid)}`));
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    return this.exclusive('purgeUpTo', () => this.doPurge(zxid));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.openGroup = null;
    await this.chain;
    if (this.failure === null) await this.trimActive().catch((err: unknown) => this.logger.warn({ err, dir: this.dir }, 'txn log: could not cut preallocated space on close (recovery will)'));
    if (this.fd !== null) await closeFd(this.fd);
    this.fd = null;
  }

  private unusable(): Error | null {
    if (this.closed) return new Error('txn log is closed');
    if (this.failure !== null) return new StorageFailedError(`txn log in ${this.dir}`, this.failure);
    return null;
  }

  /** Runs `fn` alone on the chain; a failure leaves the disk state unknown, so it poisons the log. */
  private exclusive(what: string, fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.failure !== null) throw new StorageFailedError(`txn log in ${this.dir}`, this.failure);
      try {
        await fn();
      } catch (e) {
        this.failure ??= e;
        this.logger.error({ err: e, dir: this.dir }, `txn log: ${what} failed`);
        throw e;
      }
    });
    this.chain = run.then(noop, noop);
    return run;
  }

  private async flush(g: Group): Promise<void> {
    if (this.openGroup === g) this.openGroup = null;
    if (this.failure !== null) return g.reject(new StorageFailedError(`txn log in ${this.dir}`, this.failure));
    try {
      // Small batches are written inline, so one scratch buffer serves them all (no allocation per flush).
      const inline = g.bytes <= INLINE_WRITE_MAX_BYTES;
      const batch = encodeRecords(g.records, g.bytes, inline ? (this.scratch ??= Buffer.allocUnsafe(INLINE_WRITE_MAX_BYTES)) : undefined);
      if (this.fd === null || this.size >= this.segmentBytes) {
        await this.startSegment(g.records[0]!.zxid, batch);
      } else {
        // A small write only copies into the page cache: doing it inline saves a thread-pool round trip
        // per flush (the fdatasync is what waits for the disk). Big batches keep the event loop free.
        this.preallocate(this.fd, this.size + batch.length);
        if (inline) writeAllSync(this.fd, batch, this.size);
        else await writeAll(this.fd, batch, this.size);
        this.counters.flushes++;
        this.counters.bytesWritten += batch.length;
        if (this.sync) {
          if (batch.length <= this.blockingSyncMax) this.dataSyncBlocking(this.fd);
          else await this.dataSync(this.fd);
        }
        this.size += batch.length;
      }
      this.last = g.records[g.records.length - 1]!.zxid;
      g.resolve();
    } catch (e) {
      this.failure ??= e;
      this.logger.error({ err: e, dir: this.dir }, 'txn log: write failed; the log accepts no more writes until reopened');
      g.reject(e);
    }
  }

  /** fdatasync of a segment file: counted, and timed for `onSync`. */
  private async dataSync(fd: number): Promise<void> {
    const t0 = this.onSync ? performance.now() : 0;
    await fdatasync(fd);
    this.counters.dataSyncs++;
    this.onSync?.((performance.now() - t0) / 1000);
  }

  private dataSyncBlocking(fd: number): void {
    const t0 = this.onSync ? performance.now() : 0;
    fs.fdatasyncSync(fd);
    this.counters.dataSyncs++;
    this.onSync?.((performance.now() - t0) / 1000);
  }

  /** Extends the active file (sparse) so that `end` falls inside it: the next syncs have no size to commit. */
  private preallocate(fd: number, end: number): void {
    if (end <= this.allocated) return;
    const to = Math.max(end, this.allocated + this.preallocStep);
    fs.ftruncateSync(fd, to);
    this.allocated = to;
  }

  /** Cuts the active file back to its data (before the next segment starts, and on close), durably. */
  private async trimActive(): Promise<void> {
    if (this.fd === null || this.allocated <= this.size) return;
    await ftruncate(this.fd, this.size);
    if (this.sync) await this.dataSync(this.fd);
    this.allocated = this.size;
  }

  /** Writes header + first batch under a temp name, syncs, renames, syncs the directory. */
  private async startSegment(first: Zxid, batch: Buffer): Promise<void> {
    // Only the last segment may end in preallocated zeros: cut the current one back first.
    await this.trimActive();
    const seg: Segment = { first, name: segmentName(first) };
    const tmp = path.join(this.dir, seg.name + TMP_SUFFIX);
    const bytes = Buffer.concat([encodeSegmentHeader(this.clusterId), batch]); // copies `batch` out of the scratch buffer
    const fd = await openFd(tmp, 'w+');
    let allocated = bytes.length;
    try {
      await writeAll(fd, bytes, 0);
      allocated = Math.max(bytes.length, this.preallocStep);
      await ftruncate(fd, allocated);
      this.counters.flushes++;
      this.counters.bytesWritten += bytes.length;
      if (this.sync) await this.dataSync(fd);
      await fsp.rename(tmp, path.join(this.dir, seg.name));
      await this.syncDir();
    } catch (e) {
      await closeFd(fd).catch(noop);
      throw e;
    }
    if (this.fd !== null) await closeFd(this.fd);
    this.fd = fd;
    this.size = bytes.length;
    this.allocated = allocated;
    this.segments.push(seg);
  }

  private async doTruncate(zxid: Zxid): Promise<void> {
    if (zxid >= this.last) return;
    // Newest first, each unlink durable: a crash leaves a prefix of the log, never a gap.
    while (this.segments.length > 0 && this.segments.at(-1)!.first > zxid) {
      const seg = this.segments.at(-1)!;
      await this.closeActive();
      await unlinkDurably(this.dir, seg.name, this.sync);
      if (this.sync) this.counters.dirSyncs++;
      this.segments.pop();
      this.logger.info({ file: seg.name, truncateAfter: formatZxid(zxid) }, 'txn log: deleted segment for truncation');
    }
    const seg = this.segments.at(-1);
    if (!seg) {
      this.size = 0;
      this.allocated = 0;
      this.last = 0n;
      return;
    }
    const file = path.join(this.dir, seg.name);
    // Still the active segment: its data ends at `size` (preallocated zeros follow). An earlier one,
    // reopened after the active one was deleted, was cut back to its data when the next one started.
    const active = this.fd !== null;
    if (this.fd === null) this.fd = await openFd(file, 'r+');
    const whole = await fsp.readFile(file);
    const buf = active ? whole.subarray(0, this.size) : whole;
    const headerBytes = decodeSegmentHeader(buf, file, this.clusterId);
    const scan = scanSegment(buf, headerBytes, file, seg.first, false, zxid);
    await ftruncate(this.fd, scan.validEnd);
    if (this.sync) await this.dataSync(this.fd);
    this.logger.info({ file: seg.name, offset: scan.validEnd, bytesDropped: buf.length - scan.validEnd, truncateAfter: formatZxid(zxid) }, 'txn log: truncated');
    this.size = scan.validEnd;
    this.allocated = scan.validEnd;
    this.last = scan.lastZxid;
  }

  private async doPurge(zxid: Zxid): Promise<void> {
    // Segment 0 holds only records < segments[1].first; oldest first keeps the rest a gap-free suffix.
    while (this.segments.length > 1 && this.segments[1]!.first <= zxid + 1n) {
      const seg = this.segments[0]!;
      await unlinkDurably(this.dir, seg.name, this.sync);
      if (this.sync) this.counters.dirSyncs++;
      this.segments.shift();
      this.logger.info({ file: seg.name, purgeUpTo: formatZxid(zxid) }, 'txn log: purged segment');
    }
  }

  private async closeActive(): Promise<void> {
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await closeFd(fd);
    }
  }

  private async syncDir(): Promise<void> {
    if (!this.sync) return;
    await fsyncDir(this.dir);
    this.counters.dirSyncs++;
  }
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { records: [], bytes: 0, done, resolve, reject };
}

function noop(): void {}

function describe(v: unknown): string {
  return typeof v === 'bigint' ? formatZxid(v) : String(v);
}

async function listSegments(dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for (const name of await fsp.readdir(dir)) {
    const first = parseSegmentName(name);
    if (first !== null) segments.push({ first, name });
  }
  segments.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  for (let i = 1; i < segments.length; i++) {
    if (segments[i]!.first === segments[i - 1]!.first) {
      throw new LogCorruptionError(path.join(dir, segments[i]!.name), 0, `two segment files start at the same zxid (${segments[i - 1]!.name})`);
    }
  }
  return segments;
}

async function checkHeader(file: string, clusterId: string): Promise<void> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SEGMENT_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    decodeSegmentHeader(buf.subarray(0, bytesRead), file, clusterId);
  } finally {
    await fh.close();
  }
}

/**
 * Scans the last segment, cuts a torn tail, and drops a last segment left without records (then the
 * one before it becomes the last and is scanned too). Returns where appending resumes.
 */
async function recoverTail(
  dir: string,
  segments: Segment[],
  clusterId: string,
  sync: boolean,
  logger: Logger,
): Promise<{ size: number; last: Zxid }> {
  for (;;) {
    const seg = segments.at(-1);
    if (!seg) return { size: 0, last: 0n };
    const file = path.join(dir, seg.name);
    const buf = await fsp.readFile(file);
    const headerBytes = decodeSegmentHeader(buf, file, clusterId);
    const scan = scanSegment(buf, headerBytes, file, seg.first, true);
    if (scan.torn || scan.padding) {
      const fh = await fsp.open(file, 'r+');
      try {
        await fh.truncate(scan.validEnd);
        if (sync) await fh.datasync();
      } finally {
        await fh.close();
      }
      if (scan.torn)
        logger.warn(
          { file, offset: scan.validEnd, bytesDropped: buf.length - scan.validEnd, reason: scan.torn.reason },
          'txn log: cut off a torn write at the end of the log (never acknowledged, so nothing committed is lost)',
        );
      else
        logger.info(
          { file, offset: scan.validEnd, bytes: buf.length - scan.validEnd },
          'txn log: cut off zeros at the end of the log (space preallocated before a crash, or a write that never landed: nothing acknowledged is lost)',
        );
    }
    if (scan.count > 0) return { size: scan.validEnd, last: scan.lastZxid };
    await unlinkDurably(dir, seg.name, sync);
    segments.pop();
    logger.warn({ file }, 'txn log: removed a last segment that held no complete record');
  }
}
