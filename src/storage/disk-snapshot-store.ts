/**
 * Snapshots on disk, one file each: `snapshot.<zxid hex>`, written atomically (temp file, fsync,
 * rename, directory fsync). Layout, integers big-endian:
 *   magic "ZBSN" u32 | version u16 | clusterId length u16 | clusterId utf8 | zxid u64 | data length u64
 *   | crc32 u32 of the header so far | data | crc32 u32 of data
 * The file size must match the header exactly, so a truncated or extended file is invalid.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import pino, { type Logger } from 'pino';
import type { Snapshot, SnapshotMeta, SnapshotStore } from './ports.js';
import { formatZxid, isZxid, type Zxid } from '../zxid.js';
import { ClusterIdMismatchError } from './disk-errors.js';
import { fsyncDir, removeTempFiles, writeFileAtomic } from './disk-fs.js';
import { clusterIdBytes } from './disk-log-format.js';

const MAGIC = 0x5a42534e; // "ZBSN"
export const SNAPSHOT_FORMAT_VERSION = 1;
const SNAPSHOT_NAME = /^snapshot\.([0-9a-f]{1,16})$/;

export interface DiskSnapshotStoreOptions {
  clusterId: string;
  /** How many newest snapshots to keep after a save (default 3, at least 1). */
  retain?: number;
  logger?: Logger;
  /** fsync files and directory (default true). */
  fsync?: boolean;
}

export function snapshotName(zxid: Zxid): string {
  return 'snapshot.' + zxid.toString(16);
}

export function parseSnapshotName(name: string): Zxid | null {
  const m = SNAPSHOT_NAME.exec(name);
  return m ? BigInt('0x' + m[1]) : null;
}

export function encodeSnapshotHeader(clusterId: string, zxid: Zxid, dataBytes: number): Buffer {
  const id = clusterIdBytes(clusterId);
  const buf = Buffer.allocUnsafe(28 + id.length);
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt16BE(SNAPSHOT_FORMAT_VERSION, 4);
  buf.writeUInt16BE(id.length, 6);
  id.copy(buf, 8);
  buf.writeBigUInt64BE(zxid, 8 + id.length);
  buf.writeBigUInt64BE(BigInt(dataBytes), 16 + id.length);
  buf.writeUInt32BE(zlib.crc32(buf.subarray(0, 24 + id.length)), 24 + id.length);
  return buf;
}

/** Decodes a whole snapshot file; returns the reason it is invalid as a string, or the snapshot. */
export function decodeSnapshot(buf: Buffer, file: string, clusterId: string, nameZxid: Zxid): Snapshot | string {
  if (buf.length < 12) return `too short for a header (${buf.length} bytes)`;
  if (buf.readUInt32BE(0) !== MAGIC) return 'bad magic: not a snapshot';
  const version = buf.readUInt16BE(4);
  if (version !== SNAPSHOT_FORMAT_VERSION) return `unsupported snapshot format version ${version}`;
  const idLen = buf.readUInt16BE(6);
  const headerEnd = 24 + idLen;
  if (buf.length < headerEnd + 4) return 'header cut short';
  if (zlib.crc32(buf.subarray(0, headerEnd)) !== buf.readUInt32BE(headerEnd)) return 'header checksum mismatch';
  const found = buf.toString('utf8', 8, 8 + idLen);
  if (found !== clusterId) throw new ClusterIdMismatchError(file, clusterId, found);
  const zxid = buf.readBigUInt64BE(8 + idLen);
  if (zxid !== nameZxid) return `header zxid ${formatZxid(zxid)} does not match the file name`;
  const dataLen = buf.readBigUInt64BE(16 + idLen);
  const dataStart = headerEnd + 4;
  const expected = BigInt(dataStart) + dataLen + 4n;
  if (BigInt(buf.length) !== expected) return `file is ${buf.length} bytes, header says ${expected}`;
  const data = buf.subarray(dataStart, buf.length - 4);
  if (zlib.crc32(data) !== buf.readUInt32BE(buf.length - 4)) return 'data checksum mismatch';
  return { zxid, data };
}

export class DiskSnapshotStore implements SnapshotStore {
  /** file names already read and found valid by this store (or written by it) */
  private readonly valid = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly clusterId: string,
    private readonly retain: number,
    private readonly sync: boolean,
    private readonly logger: Logger,
  ) {}

  /** Opens (creating `dir` if needed) and deletes temp files left by a crash during save. */
  static async open(dir: string, opts: DiskSnapshotStoreOptions): Promise<DiskSnapshotStore> {
    clusterIdBytes(opts.clusterId);
    const retain = opts.retain ?? 3;
    if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`retain must be an integer >= 1, got ${retain}`);
    const sync = opts.fsync ?? true;
    const logger = (opts.logger ?? pino({ name: 'zab' }, pino.destination(2))).child({ component: 'snapshots' });
    await fsp.mkdir(dir, { recursive: true });
    const removed = await removeTempFiles(dir, (n) => parseSnapshotName(n) !== null, sync);
    if (removed.length > 0) logger.warn({ dir, files: removed }, 'snapshots: removed unfinished snapshot files left by a crash');
    return new DiskSnapshotStore(dir, opts.clusterId, retain, sync, logger);
  }

  async save(snapshot: Snapshot): Promise<void> {
    if (!isZxid(snapshot.zxid)) throw new RangeError(`snapshot zxid is not a zxid: ${String(snapshot.zxid)}`);
    const header = encodeSnapshotHeader(this.clusterId, snapshot.zxid, snapshot.data.length);
    const trailer = Buffer.allocUnsafe(4);
    trailer.writeUInt32BE(zlib.crc32(snapshot.data), 0);
    await writeFileAtomic(this.dir, snapshotName(snapshot.zxid), [header, snapshot.data, trailer], this.sync);
    this.valid.add(snapshotName(snapshot.zxid));
    await this.prune(snapshot.zxid);
  }

  async loadNewest(): Promise<Snapshot | null> {
    const names = await this.names();
    for (let i = names.length - 1; i >= 0; i--) {
      const snap = await this.load(names[i]!);
      if (snap) return snap;
    }
    return null;
  }

  /**
   * The valid snapshots, oldest first. A file is read and checked once per store (snapshot files never
   * change after their rename into place); the snapshot loaded for recovery is always checked again.
   */
  async list(): Promise<SnapshotMeta[]> {
    const metas: SnapshotMeta[] = [];
    for (const n of await this.names()) {
      if (this.valid.has(n.name)) {
        metas.push({ zxid: n.zxid });
        continue;
      }
      const snap = await this.load(n);
      if (snap) {
        this.valid.add(n.name);
        metas.push({ zxid: snap.zxid });
      }
    }
    return metas;
  }

  /** Snapshot files present, oldest first (valid or not). */
  private async names(): Promise<{ name: string; zxid: Zxid }[]> {
    const out: { name: string; zxid: Zxid }[] = [];
    for (const name of await fsp.readdir(this.dir)) {
      const zxid = parseSnapshotName(name);
      if (zxid !== null) out.push({ name, zxid });
    }
    return out.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
  }

  private async load(entry: { name: string; zxid: Zxid }): Promise<Snapshot | null> {
    const file = path.join(this.dir, entry.name);
    let buf: Buffer;
    try {
      buf = await fsp.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const result = decodeSnapshot(buf, file, this.clusterId, entry.zxid);
    if (typeof result === 'string') {
      this.logger.warn({ file, reason: result }, 'snapshots: skipping invalid snapshot');
      return null;
    }
    return result;
  }

  /**
   * Keeps the one just saved and the `retain - 1` newest before it (fallbacks if it is damaged later).
   * Files newer than the one saved are left alone: this store does not judge them here.
   */
  private async prune(saved: Zxid): Promise<void> {
    const older = (await this.names()).filter((n) => n.zxid < saved);
    const doomed = older.slice(0, Math.max(0, older.length - (this.retain - 1)));
    for (const n of doomed) {
      await fsp.rm(path.join(this.dir, n.name), { force: true });
      this.valid.delete(n.name);
    }
    if (doomed.length > 0 && this.sync) await fsyncDir(this.dir);
  }
}
