/**
 * Byte layout of txn log segments. Pure functions over Buffers, shared by the writer, the recovery
 * scan and the reader.
 *
 * Segment file `log.<first zxid hex>`:
 *   header: magic "ZBTL" | version u16 | clusterId length u16 | clusterId utf8 | crc32 u32 of the preceding bytes
 *   records, back to back, each:
 *     length u32 (bytes of data) | crc32 u32 (IEEE, as zlib) over the zxid and data bytes | zxid u64 | data
 * All integers are big-endian (as ZooKeeper writes them).
 */
import zlib from 'node:zlib';
import type { LogRecord } from './ports.js';
import type { Zxid } from '../zxid.js';
import { crc32Range } from './disk-crc32.js';
import { ClusterIdMismatchError, LogCorruptionError } from './disk-errors.js';

const MAGIC = 0x5a42544c; // "ZBTL"
export const LOG_FORMAT_VERSION = 1;
export const RECORD_HEADER_BYTES = 16;
/** Larger lengths are treated as damage, not as a record to read. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
export const MAX_CLUSTER_ID_BYTES = 1024;
/** Enough to hold any segment header. */
export const MAX_SEGMENT_HEADER_BYTES = 12 + MAX_CLUSTER_ID_BYTES;

const SEGMENT_NAME = /^log\.([0-9a-f]{1,16})$/;

export function segmentName(firstZxid: Zxid): string {
  return 'log.' + firstZxid.toString(16);
}

/** The first zxid a segment file name stands for, or null when the name is not a segment's. */
export function parseSegmentName(name: string): Zxid | null {
  const m = SEGMENT_NAME.exec(name);
  return m ? BigInt('0x' + m[1]) : null;
}

export function clusterIdBytes(clusterId: string): Buffer {
  const id = Buffer.from(clusterId, 'utf8');
  if (id.length === 0 || id.length > MAX_CLUSTER_ID_BYTES) {
    throw new RangeError(`clusterId must be 1..${MAX_CLUSTER_ID_BYTES} bytes of UTF-8, got ${id.length}`);
  }
  return id;
}

export function encodeSegmentHeader(clusterId: string): Buffer {
  const id = clusterIdBytes(clusterId);
  const buf = Buffer.allocUnsafe(12 + id.length);
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt16BE(LOG_FORMAT_VERSION, 4);
  buf.writeUInt16BE(id.length, 6);
  id.copy(buf, 8);
  buf.writeUInt32BE(zlib.crc32(buf.subarray(0, 8 + id.length)), 8 + id.length);
  return buf;
}

/** Checks a segment header (`buf` starts at file offset 0) and returns its length in bytes. */
export function decodeSegmentHeader(buf: Buffer, file: string, clusterId: string): number {
  if (buf.length < 8) throw new LogCorruptionError(file, 0, `file too short for a segment header (${buf.length} bytes)`);
  if (buf.readUInt32BE(0) !== MAGIC) throw new LogCorruptionError(file, 0, 'bad magic: not a txn log segment');
  const version = buf.readUInt16BE(4);
  if (version !== LOG_FORMAT_VERSION) {
    throw new LogCorruptionError(file, 4, `unsupported log format version ${version} (this build reads ${LOG_FORMAT_VERSION})`);
  }
  const idLen = buf.readUInt16BE(6);
  const end = 8 + idLen;
  if (idLen === 0 || buf.length < end + 4) throw new LogCorruptionError(file, 6, 'segment header cut short');
  if (zlib.crc32(buf.subarray(0, end)) !== buf.readUInt32BE(end)) {
    throw new LogCorruptionError(file, end, 'segment header checksum mismatch');
  }
  const found = buf.toString('utf8', 8, end);
  if (found !== clusterId) throw new ClusterIdMismatchError(file, clusterId, found);
  return end + 4;
}

export function encodedSize(records: readonly LogRecord[]): number {
  let n = 0;
  for (const r of records) n += RECORD_HEADER_BYTES + r.data.length;
  return n;
}

/**
 * Encodes records into `bytes` bytes (see encodedSize): at the start of `into` when given (it must be
 * large enough), else into a fresh buffer. Returns exactly the encoded bytes.
 */
export function encodeRecords(records: readonly LogRecord[], bytes: number, into?: Buffer): Buffer {
  const buf = into ? into.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
  // DataView setters skip Buffer's per-call argument checks: this loop is the append hot path.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  for (const r of records) {
    const len = r.data.length;
    view.setUint32(off, len);
    view.setBigUint64(off + 8, r.zxid);
    buf.set(r.data, off + RECORD_HEADER_BYTES);
    const end = off + RECORD_HEADER_BYTES + len;
    view.setUint32(off + 4, crc32Range(buf, off + 8, end));
    off = end;
  }
  return buf;
}

export type RecordCheck =
  /** A whole record with a matching checksum; `next` is the offset after it. */
  | { kind: 'ok'; zxid: Zxid; next: number }
  /** The buffer ends inside the record; `need` is how many bytes from `off` it would take. */
  | { kind: 'short'; need: number }
  | { kind: 'bad'; reason: string };

/** Checks the record at `off` in `buf` (checksum and length only; ordering is the caller's). */
export function checkRecordAt(buf: Buffer, off: number): RecordCheck {
  if (buf.length - off < RECORD_HEADER_BYTES) return { kind: 'short', need: RECORD_HEADER_BYTES };
  const len = buf.readUInt32BE(off);
  if (len > MAX_RECORD_BYTES) return { kind: 'bad', reason: `record length ${len} exceeds the maximum ${MAX_RECORD_BYTES}` };
  const end = off + RECORD_HEADER_BYTES + len;
  if (end > buf.length) return { kind: 'short', need: RECORD_HEADER_BYTES + len };
  if (crc32Range(buf, off + 8, end) !== buf.readUInt32BE(off + 4)) {
    return { kind: 'bad', reason: `checksum mismatch in record of length ${len}` };
  }
  return { kind: 'ok', zxid: buf.readBigUInt64BE(off + 8), next: end };
}

/**
 * Is there a whole, checksummed record with zxid > `prev` starting anywhere after `from`? Used to
 * tell a torn tail (nothing valid follows) from damage in the middle (something valid follows).
 */
export function validRecordAfter(buf: Buffer, from: number, prev: Zxid): number {
  for (let o = from + 1; o + RECORD_HEADER_BYTES <= buf.length; o++) {
    const len = buf.readUInt32BE(o);
    if (len > MAX_RECORD_BYTES || o + RECORD_HEADER_BYTES + len > buf.length) continue;
    if (buf.readBigUInt64BE(o + 8) <= prev) continue;
    const c = checkRecordAt(buf, o);
    if (c.kind === 'ok') return o;
  }
  return -1;
}

export interface SegmentScan {
  /** Number of intact records and the zxid of the last one (0n when none). */
  count: number;
  lastZxid: Zxid;
  /** Offset just after the last intact record. */
  validEnd: number;
  /** Set when a torn tail follows validEnd (only when allowed). */
  torn?: { reason: string };
  /** Set when only zeros follow validEnd: space preallocated for records that never came (not damage). */
  padding?: true;
}

/** True when every byte of `buf` from `from` on is zero. */
function zeroFrom(buf: Buffer, from: number): boolean {
  for (let o = from; o < buf.length; o++) if (buf[o] !== 0) return false;
  return true;
}

/**
 * Scans a whole segment held in `buf`. Every record must be intact and increasing, and the first must
 * carry the zxid in the file name. With `allowTornTail` (the last segment), a damaged or partial
 * stretch at the end with no valid record after it is reported as torn instead of thrown, and zeros
 * to the end of the file as padding (preallocated space).
 * `stopAfter` ends the scan after the last record <= it (for truncation).
 */
export function scanSegment(
  buf: Buffer,
  headerBytes: number,
  file: string,
  firstZxid: Zxid,
  allowTornTail: boolean,
  stopAfter?: Zxid,
): SegmentScan {
  let off = headerBytes;
  let prev = 0n;
  let count = 0;
  while (off < buf.length) {
    const c = checkRecordAt(buf, off);
    if (c.kind === 'ok') {
      if (stopAfter !== undefined && c.zxid > stopAfter) break;
      if (count === 0 && c.zxid !== firstZxid) {
        throw new LogCorruptionError(file, off, `first record has zxid 0x${c.zxid.toString(16)}, but the file name says 0x${firstZxid.toString(16)}`);
      }
      if (count > 0 && c.zxid <= prev) {
        throw new LogCorruptionError(file, off, `zxid 0x${c.zxid.toString(16)} does not increase (previous record 0x${prev.toString(16)})`);
      }
      prev = c.zxid;
      count++;
      off = c.next;
      continue;
    }
    // At least a record header's worth of zeros to the end: the preallocated part of the last segment
    // (a crash before the log cut it back), or a write that never reached the disk. Cut off all the same.
    if (allowTornTail && buf.length - off >= RECORD_HEADER_BYTES && zeroFrom(buf, off)) return { count, lastZxid: prev, validEnd: off, padding: true };
    const reason = c.kind === 'short' ? `partial record (${buf.length - off} of ${c.need} bytes)` : c.reason;
    if (!allowTornTail) throw new LogCorruptionError(file, off, reason);
    const next = validRecordAfter(buf, off, prev);
    if (next >= 0) throw new LogCorruptionError(file, off, `${reason}, followed by a valid record at offset ${next}`);
    return { count, lastZxid: prev, validEnd: off, torn: { reason } };
  }
  return { count, lastZxid: prev, validEnd: off };
}
