/**
 * Streams the records of one segment in chunks, verifying every checksum and the zxid order. Records
 * are views into the chunk buffers (no copy); chunks are never reused.
 */
import fsp from 'node:fs/promises';
import type { LogRecord } from './ports.js';
import type { Zxid } from '../zxid.js';
import { LogCorruptionError } from './disk-errors.js';
import { checkRecordAt, decodeSegmentHeader, MAX_SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES } from './disk-log-format.js';

const CHUNK_BYTES = 1024 * 1024;

export interface SegmentReadRange {
  file: string;
  clusterId: string;
  firstZxid: Zxid;
  /** Bytes of the file to read (the durable size); undefined reads to the end of the file. */
  limit: number | undefined;
  /** Yield records with after < zxid <= upTo. */
  after: Zxid;
  upTo: Zxid;
  /** zxid of the record before this segment (0n when unknown), for the order check across segments. */
  prev: Zxid;
}

/** Yields batches of records in range; returns the last zxid seen (for the next segment's order check). */
export async function* readSegment(r: SegmentReadRange): AsyncGenerator<LogRecord[], Zxid> {
  const fh = await fsp.open(r.file, 'r');
  try {
    const limit = r.limit ?? (await fh.stat()).size;
    const head = Buffer.alloc(Math.min(limit, MAX_SEGMENT_HEADER_BYTES));
    await readFully(fh, head, 0);
    const headerBytes = decodeSegmentHeader(head, r.file, r.clusterId);

    let data: Buffer = Buffer.alloc(0);
    let base = headerBytes; // file offset of data[0]
    let off = 0;
    let prev = r.prev;
    let first = true;
    for (;;) {
      const batch: LogRecord[] = [];
      let need = RECORD_HEADER_BYTES;
      for (;;) {
        const c = checkRecordAt(data, off);
        if (c.kind === 'short') {
          need = c.need;
          break;
        }
        if (c.kind === 'bad') throw new LogCorruptionError(r.file, base + off, c.reason);
        if (first && c.zxid !== r.firstZxid) {
          throw new LogCorruptionError(r.file, base + off, `first record has zxid 0x${c.zxid.toString(16)}, but the file name says 0x${r.firstZxid.toString(16)}`);
        }
        if (c.zxid <= prev) {
          throw new LogCorruptionError(r.file, base + off, `zxid 0x${c.zxid.toString(16)} does not increase (previous record 0x${prev.toString(16)})`);
        }
        first = false;
        prev = c.zxid;
        if (c.zxid > r.upTo) {
          if (batch.length > 0) yield batch;
          return prev;
        }
        if (c.zxid > r.after) batch.push({ zxid: c.zxid, data: data.subarray(off + RECORD_HEADER_BYTES, c.next) });
        off = c.next;
      }
      if (batch.length > 0) yield batch;

      const fileOff = base + data.length;
      if (fileOff >= limit) {
        if (off < data.length) throw new LogCorruptionError(r.file, base + off, 'record extends past the end of the file');
        return prev;
      }
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(CHUNK_BYTES, need), limit - fileOff));
      await readFully(fh, chunk, fileOff);
      const rest = data.subarray(off);
      data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      base += off;
      off = 0;
    }
  } finally {
    await fh.close();
  }
}

async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at offset ${position + done}: was it truncated while being read?`);
    done += bytesRead;
  }
}
