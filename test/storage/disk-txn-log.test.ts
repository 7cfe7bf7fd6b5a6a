import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DiskTxnLog, type DiskTxnLogOptions } from '../../src/storage/disk-txn-log.js';
import { ClusterIdMismatchError, LogCorruptionError, StorageFailedError } from '../../src/storage/disk-errors.js';
import { encodeRecords, encodeSegmentHeader, encodedSize, segmentName } from '../../src/storage/disk-log-format.js';
import type { LogRecord, TxnLog } from '../../src/storage/ports.js';
import { makeZxid, type Zxid } from '../../src/zxid.js';

const dirs: string[] = [];
const logs: DiskTxnLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-txnlog-'));
  dirs.push(d);
  return d;
}

const silent = pino({ level: 'silent' });

async function open(dir: string, opts: Partial<DiskTxnLogOptions> = {}): Promise<DiskTxnLog> {
  const log = await DiskTxnLog.open(dir, { clusterId: 'test-cluster', logger: silent, ...opts });
  logs.push(log);
  return log;
}

function rec(zxid: Zxid, size = 8): LogRecord {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = Number((zxid + BigInt(i)) & 0xffn);
  return { zxid, data };
}

function recs(from: number, to: number, size = 8, epoch = 1): LogRecord[] {
  const out: LogRecord[] = [];
  for (let c = from; c <= to; c++) out.push(rec(makeZxid(epoch, c), size));
  return out;
}

async function readAll(log: TxnLog, after: Zxid = 0n, upTo?: Zxid): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const batch of log.read(after, upTo)) out.push(...batch);
  return out;
}

function plain(rs: LogRecord[]): { zxid: Zxid; data: number[] }[] {
  return rs.map((r) => ({ zxid: r.zxid, data: [...r.data] }));
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.startsWith('log.')).sort();
}

describe('DiskTxnLog basics', () => {
  it('starts empty', async () => {
    const log = await open(await tempDir());
    expect(log.lastZxid()).toBe(0n);
    expect(log.firstZxid()).toBe(0n);
    expect(await readAll(log)).toEqual([]);
  });

  it('round-trips appends through close and reopen', async () => {
    const dir = await tempDir();
    const log = await open(dir);
    const written = [...recs(1, 5), rec(makeZxid(1, 6), 0), ...recs(7, 9, 3000)];
    await log.append(written.slice(0, 5));
    await log.append(written.slice(5));
    expect(log.lastZxid()).toBe(makeZxid(1, 9));
    expect(plain(await readAll(log))).toEqual(plain(written));
    await log.close();

    const again = await open(dir);
    expect(again.firstZxid()).toBe(makeZxid(1, 1));
    expect(again.lastZxid()).toBe(makeZxid(1, 9));
    expect(plain(await readAll(again))).toEqual(plain(written));
    expect(plain(await readAll(again, makeZxid(1, 3), makeZxid(1, 6)))).toEqual(plain(written.slice(3, 6)));
    await again.append(recs(10, 11));
    expect((await readAll(again)).map((r) => r.zxid)).toEqual(recs(1, 11).map((r) => r.zxid));
  });

  it('names the first segment by its first zxid in hex and writes the cluster id into it', async () => {
    const dir = await tempDir();
    const log = await open(dir);
    await log.append(recs(1, 2, 8, 1));
    expect(await segmentFiles(dir)).toEqual(['log.100000001']);
    const bytes = await fsp.readFile(path.join(dir, 'log.100000001'));
    expect(bytes.includes(Buffer.from('test-cluster'))).toBe(true);
  });

  it('rejects zxids that do not increase, and keeps working', async () => {
    const log = await open(await tempDir());
    await log.append(recs(1, 3));
    await expect(log.append([rec(makeZxid(1, 3))])).rejects.toThrow(/must be above 0x100000003/);
    await expect(log.append([rec(makeZxid(1, 5)), rec(makeZxid(1, 4))])).rejects.toThrow(/strictly increase/);
    await expect(log.append([rec(0n)])).rejects.toThrow(RangeError);
    await log.append(recs(4, 4));
    expect((await readAll(log)).map((r) => r.zxid)).toEqual(recs(1, 4).map((r) => r.zxid));
  });

  it('refuses to open a segment of another cluster, naming the file', async () => {
    const dir = await tempDir();
    const log = await open(dir);
    await log.append(recs(1, 1));
    await log.close();
    const err = await DiskTxnLog.open(dir, { clusterId: 'other', logger: silent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterIdMismatchError);
    expect((err as Error).message).toContain(path.join(dir, 'log.100000001'));
    expect((err as Error).message).toMatch(/test-cluster/);
  });

  it('rejects operations after close', async () => {
    const log = await open(await tempDir());
    await log.close();
    await expect(log.append(recs(1, 1))).rejects.toThrow(/closed/);
  });
});

describe('group commit', () => {
  it('coalesces 100 appends issued together into one write and one fdatasync', async () => {
    const dir = await tempDir();
    const log = await open(dir, { fsync: true });
    await log.append(recs(1, 1)); // creates the segment
    const before = log.stats;
    const all = recs(2, 101);
    await Promise.all(all.map((r) => log.append([r])));
    const after = log.stats;
    expect(after.appendCalls - before.appendCalls).toBe(100);
    expect(after.flushes - before.flushes).toBe(1);
    expect(after.dataSyncs - before.dataSyncs).toBe(1);
    expect(after.dirSyncs - before.dirSyncs).toBe(0);
    expect((await readAll(log)).length).toBe(101);
  });

  it('queues appends made while a flush is in flight into the next single flush', async () => {
    const log = await open(await tempDir(), { fsync: true, blockingSyncMaxBytes: 0 });
    await log.append(recs(1, 1));
    const before = log.stats;
    const first = recs(2, 51).map((r) => log.append([r]));
    // Microtasks only: the first group's flush starts, and its I/O cannot complete before a macrotask.
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(log.stats.dataSyncs).toBe(before.dataSyncs); // the first fdatasync has not completed
    const second = recs(52, 101).map((r) => log.append([r]));
    await Promise.all([...first, ...second]);
    expect(log.stats.flushes - before.flushes).toBe(2);
    expect(log.stats.dataSyncs - before.dataSyncs).toBe(2);
    expect((await readAll(log)).map((r) => r.zxid)).toEqual(recs(1, 101).map((r) => r.zxid));
  });

  it('splits a huge burst into bounded groups, in order', async () => {
    const dir = await tempDir();
    const log = await open(dir, { fsync: false });
    const big = recs(1, 20, 1024 * 1024);
    await Promise.all(big.map((r) => log.append([r])));
    expect(log.stats.flushes).toBeGreaterThan(1);
    expect(log.stats.flushes).toBeLessThan(20);
    await log.close();
    const again = await open(dir);
    const back = await readAll(again);
    expect(back.map((r) => r.zxid)).toEqual(big.map((r) => r.zxid));
    for (const [i, r] of back.entries()) expect(Buffer.compare(r.data, big[i]!.data)).toBe(0);
  });

  it('keeps order and content with many concurrent appenders of batches', async () => {
    const dir = await tempDir();
    const log = await open(dir, { segmentBytes: 4096 });
    let next = 1;
    const appender = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const batch = recs(next, next + 4, 50);
        next += 5;
        await log.append(batch);
      }
    };
    await Promise.all(Array.from({ length: 8 }, appender));
    expect(log.stats.flushes).toBeLessThan(log.stats.appendCalls);
    await log.close();
    const again = await open(dir);
    expect(plain(await readAll(again))).toEqual(plain(recs(1, 800, 50)));
  });
});

describe('segments', () => {
  it('rolls at batch boundaries once a segment exceeds segmentBytes, and reads across segments', async () => {
    const dir = await tempDir();
    const log = await open(dir, { segmentBytes: 300 });
    for (let c = 1; c <= 40; c += 4) await log.append(recs(c, c + 3, 20));
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    // every segment starts at a batch boundary: counters 1, 5, 9, ...
    for (const f of files) expect((Number(BigInt('0x' + f.slice(4)) & 0xffffffffn) - 1) % 4).toBe(0);
    expect(plain(await readAll(log))).toEqual(plain(recs(1, 40, 20)));
    expect(plain(await readAll(log, makeZxid(1, 10), makeZxid(1, 30)))).toEqual(plain(recs(11, 30, 20)));
    expect(plain(await readAll(log, makeZxid(1, 40)))).toEqual([]);
    await log.close();
    const again = await open(dir, { segmentBytes: 300 });
    expect(again.firstZxid()).toBe(makeZxid(1, 1));
    expect(again.lastZxid()).toBe(makeZxid(1, 40));
    expect(plain(await readAll(again, makeZxid(1, 3)))).toEqual(plain(recs(4, 40, 20)));
  });

  it('carries records across an epoch change', async () => {
    const log = await open(await tempDir(), { segmentBytes: 100 });
    await log.append(recs(1, 3, 40, 1));
    await log.append(recs(1, 3, 40, 2));
    expect((await readAll(log, makeZxid(1, 2))).map((r) => r.zxid)).toEqual([
      makeZxid(1, 3),
      ...recs(1, 3, 40, 2).map((r) => r.zxid),
    ]);
  });
});

describe('truncateAfter', () => {
  async function filled(dir: string): Promise<DiskTxnLog> {
    const log = await open(dir, { segmentBytes: 200 });
    for (let c = 1; c <= 30; c += 3) await log.append(recs(c, c + 2, 30));
    return log;
  }

  for (const cut of [0, 1, 2, 3, 4, 10, 15, 16, 29, 30, 31]) {
    it(`cuts after counter ${cut}, survives reopen, and appends again`, async () => {
      const dir = await tempDir();
      const log = await filled(dir);
      await log.truncateAfter(cut === 0 ? 0n : makeZxid(1, cut));
      const kept = Math.min(cut, 30);
      expect(log.lastZxid()).toBe(kept === 0 ? 0n : makeZxid(1, kept));
      expect(plain(await readAll(log))).toEqual(plain(recs(1, kept, 30)));
      await log.append(recs(kept + 1, kept + 2, 30, 1).map((r) => ({ ...r, zxid: makeZxid(2, Number(r.zxid & 0xffn)) })));
      await log.close();
      const again = await open(dir, { segmentBytes: 200 });
      const zxids = (await readAll(again)).map((r) => r.zxid);
      expect(zxids).toEqual([...recs(1, kept, 30).map((r) => r.zxid), makeZxid(2, kept + 1), makeZxid(2, kept + 2)]);
      for (const f of await segmentFiles(dir)) {
        const first = BigInt('0x' + f.slice(4));
        expect(zxids).toContain(first); // no segment left over from before the cut
      }
    });
  }

  it('truncates to a zxid between records', async () => {
    const log = await open(await tempDir());
    await log.append([rec(makeZxid(1, 1)), rec(makeZxid(1, 5)), rec(makeZxid(1, 9))]);
    await log.truncateAfter(makeZxid(1, 7));
    expect(log.lastZxid()).toBe(makeZxid(1, 5));
    await log.append([rec(makeZxid(1, 8))]);
    expect((await readAll(log)).map((r) => r.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 5), makeZxid(1, 8)]);
  });

  it('orders appends around a truncation by call order', async () => {
    const log = await open(await tempDir());
    const a = log.append(recs(1, 10));
    const t = log.truncateAfter(makeZxid(1, 4));
    const b = log.append(recs(5, 6, 8, 1).map((r) => rec(makeZxid(2, Number(r.zxid & 0xffn)))));
    await Promise.all([a, t, b]);
    expect((await readAll(log)).map((r) => r.zxid)).toEqual([...recs(1, 4).map((r) => r.zxid), makeZxid(2, 5), makeZxid(2, 6)]);
  });

  it('is a no-op at or above the last zxid', async () => {
    const log = await open(await tempDir());
    await log.append(recs(1, 3));
    await log.truncateAfter(makeZxid(1, 3));
    await log.truncateAfter(makeZxid(5, 0));
    expect(log.lastZxid()).toBe(makeZxid(1, 3));
  });
});

describe('truncateAfter crash points', () => {
  it('every intermediate state (later segments deleted newest first, then the cut) reopens as a prefix holding all records <= the point', async () => {
    const dir = await tempDir();
    const log = await open(dir, { segmentBytes: 100 });
    for (let c = 1; c <= 12; c += 2) await log.append(recs(c, c + 1, 40)); // six segments of two records
    await log.close();
    const files = await segmentFiles(dir);
    const saved = new Map<string, Buffer>();
    for (const f of files) saved.set(f, await fsp.readFile(path.join(dir, f)));
    const point = makeZxid(1, 5); // lives in the third segment
    const all = recs(1, 12).map((r) => r.zxid);
    // Crash after deleting the newest `deleted` of the three later segments (the cut not yet made).
    for (let deleted = 0; deleted <= 3; deleted++) {
      const crashDir = await tempDir();
      for (const f of files.slice(0, files.length - deleted)) await fsp.writeFile(path.join(crashDir, f), saved.get(f)!);
      const reopened = await open(crashDir, { segmentBytes: 100 });
      const zxids = (await readAll(reopened)).map((r) => r.zxid);
      expect(zxids).toEqual(all.slice(0, zxids.length)); // a prefix: no gap, nothing resurrected out of order
      expect(zxids).toEqual(expect.arrayContaining(all.filter((z) => z <= point)));
      await reopened.truncateAfter(point); // the retried TRUNC completes
      expect((await readAll(reopened)).map((r) => r.zxid)).toEqual(all.filter((z) => z <= point));
    }
  });
});

describe('preallocation', () => {
  const header = encodeSegmentHeader('test-cluster').length;

  it('extends the active segment ahead of its data, and cuts it back on close and before the next segment', async () => {
    const dir = await tempDir();
    const log = await open(dir, { fsync: true, segmentBytes: 1 << 20 });
    await log.append(recs(1, 3, 100));
    const first = path.join(dir, segmentName(makeZxid(1, 1)));
    const data = header + 3 * (16 + 100);
    expect(fs.statSync(first).size).toBe(1 << 20); // preallocated (sparse) up to the step
    await log.append(recs(4, 4, 100));
    expect(fs.statSync(first).size).toBe(1 << 20);
    await log.close();
    expect(fs.statSync(first).size).toBe(data + 116);
    const again = await open(dir, { fsync: true, segmentBytes: 1 });
    await again.append(recs(5, 5, 10)); // segmentBytes 1: starts a new segment
    expect(fs.statSync(first).size).toBe(data + 116); // cut back (it already was)
    await again.append(recs(6, 6, 10)); // and another: the second is cut back before the third starts
    const second = path.join(dir, segmentName(makeZxid(1, 5)));
    expect(fs.statSync(second).size).toBe(header + 16 + 10);
    expect((await readAll(again)).map((r) => r.zxid)).toEqual(recs(1, 6).map((r) => r.zxid));
  });

  it('after a crash the preallocated zeros are cut off quietly and appending continues after the data', async () => {
    const dir = await tempDir();
    const lines: { msg: string; level: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string; level: number }) });
    const log = await DiskTxnLog.open(dir, { clusterId: 'test-cluster', logger: silent, fsync: true, segmentBytes: 1 << 20 });
    await log.append(recs(1, 5, 50));
    const file = path.join(dir, segmentName(makeZxid(1, 1)));
    const bytes = fs.readFileSync(file); // what a crash leaves: data, then zeros to 1 MiB
    expect(bytes.length).toBe(1 << 20);
    await log.close();
    fs.writeFileSync(file, bytes);
    const reopened = await DiskTxnLog.open(dir, { clusterId: 'test-cluster', logger, fsync: true });
    logs.push(reopened);
    expect(fs.statSync(file).size).toBe(header + 5 * 66);
    expect(lines.some((l) => l.msg.includes('torn'))).toBe(false);
    expect(lines.find((l) => l.msg.includes('cut off zeros'))).toMatchObject({ level: 30 });
    await reopened.append(recs(6, 6, 50));
    expect((await readAll(reopened)).map((r) => r.zxid)).toEqual(recs(1, 6).map((r) => r.zxid));
  });
});

describe('blocking fdatasync of small groups', () => {
  it('syncs a group up to blockingSyncMaxBytes on the calling thread, a bigger one in the thread pool', async () => {
    const log = await open(await tempDir(), { fsync: true, blockingSyncMaxBytes: 1024 });
    await log.append(recs(1, 1)); // creates the segment
    const blocking = vi.spyOn(fs, 'fdatasyncSync');
    const pooled = vi.spyOn(fs, 'fdatasync');
    try {
      await log.append(recs(2, 2, 100));
      expect([blocking.mock.calls.length, pooled.mock.calls.length]).toEqual([1, 0]);
      await log.append(recs(3, 3, 2000));
      expect([blocking.mock.calls.length, pooled.mock.calls.length]).toEqual([1, 1]);
    } finally {
      blocking.mockRestore();
      pooled.mockRestore();
    }
    expect((await readAll(log)).map((r) => r.zxid)).toEqual(recs(1, 3).map((r) => r.zxid));
  });

  it('refuses a negative or fractional limit', async () => {
    await expect(open(await tempDir(), { blockingSyncMaxBytes: -1 })).rejects.toThrow(/blockingSyncMaxBytes/);
    await expect(open(await tempDir(), { blockingSyncMaxBytes: 1.5 })).rejects.toThrow(/blockingSyncMaxBytes/);
  });

  it('a failed blocking fdatasync rejects the append and poisons the log', async () => {
    const log = await open(await tempDir(), { fsync: true });
    await log.append(recs(1, 1));
    const spy = vi.spyOn(fs, 'fdatasyncSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    });
    try {
      await expect(log.append(recs(2, 2))).rejects.toThrow(/EIO/);
    } finally {
      spy.mockRestore();
    }
    await expect(log.append(recs(3, 3))).rejects.toThrow(StorageFailedError);
    expect(log.lastZxid()).toBe(makeZxid(1, 1));
  });
});

describe('failures', () => {
  it('a failed fdatasync rejects the append and poisons the log until reopened', async () => {
    const dir = await tempDir();
    const log = await open(dir, { fsync: true, blockingSyncMaxBytes: 0 });
    await log.append(recs(1, 1));
    const spy = vi.spyOn(fs, 'fdatasync').mockImplementationOnce((_fd, cb) => cb(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })));
    try {
      await expect(log.append(recs(2, 2))).rejects.toThrow(/EIO/);
    } finally {
      spy.mockRestore();
    }
    await expect(log.append(recs(3, 3))).rejects.toThrow(StorageFailedError);
    await expect(log.truncateAfter(makeZxid(1, 1))).rejects.toThrow(StorageFailedError);
    expect(log.lastZxid()).toBe(makeZxid(1, 1));
    await log.close();
    const again = await open(dir);
    expect(again.lastZxid() >= makeZxid(1, 1)).toBe(true);
  });
});

describe('purgeUpTo', () => {
  it('deletes only whole segments at or below the zxid and never the last one', async () => {
    const dir = await tempDir();
    const log = await open(dir, { segmentBytes: 100 });
    for (let c = 1; c <= 12; c += 2) await log.append(recs(c, c + 1, 40)); // one batch per segment
    expect((await segmentFiles(dir)).length).toBe(6);
    await log.purgeUpTo(makeZxid(1, 5)); // segments [1,2], [3,4] go; [5,6] holds 6 > 5 so stays
    expect(log.firstZxid()).toBe(makeZxid(1, 5));
    expect((await readAll(log)).map((r) => r.zxid)).toEqual(recs(5, 12).map((r) => r.zxid));
    await log.purgeUpTo(makeZxid(9, 0)); // everything is older, but the last segment stays
    expect(await segmentFiles(dir)).toEqual([segmentName(makeZxid(1, 11))]);
    expect(log.lastZxid()).toBe(makeZxid(1, 12));
    await log.close();
    const again = await open(dir, { segmentBytes: 100 });
    expect(again.firstZxid()).toBe(makeZxid(1, 11));
    expect((await readAll(again)).map((r) => r.zxid)).toEqual(recs(11, 12).map((r) => r.zxid));
  });
});

describe('corruption outside the tail', () => {
  it('detects a non-increasing zxid in the last segment', async () => {
    const dir = await tempDir();
    const records = [rec(makeZxid(1, 1)), rec(makeZxid(1, 2)), rec(makeZxid(1, 2)), rec(makeZxid(1, 3))];
    const file = path.join(dir, segmentName(makeZxid(1, 1)));
    await fsp.writeFile(file, Buffer.concat([encodeSegmentHeader('test-cluster'), encodeRecords(records, encodedSize(records))]));
    const err = await DiskTxnLog.open(dir, { clusterId: 'test-cluster', logger: silent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogCorruptionError);
    expect((err as LogCorruptionError).file).toBe(file);
    expect((err as LogCorruptionError).message).toMatch(/does not increase/);
  });

  it('detects damage in an older segment when reading it', async () => {
    const dir = await tempDir();
    const log = await open(dir, { segmentBytes: 100 });
    for (let c = 1; c <= 6; c += 2) await log.append(recs(c, c + 1, 40));
    await log.close();
    const file = path.join(dir, segmentName(makeZxid(1, 1)));
    const bytes = await fsp.readFile(file);
    const header = encodeSegmentHeader('test-cluster').length;
    bytes[header + 20] ^= 0x01; // data of the first record
    await fsp.writeFile(file, bytes);
    const again = await open(dir, { segmentBytes: 100 });
    const err = await readAll(again).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogCorruptionError);
    expect((err as LogCorruptionError).file).toBe(file);
    expect((err as LogCorruptionError).offset).toBe(header);
  });

  it('refuses a segment whose first record does not match its name', async () => {
    const dir = await tempDir();
    const records = [rec(makeZxid(1, 2))];
    await fsp.writeFile(
      path.join(dir, segmentName(makeZxid(1, 1))),
      Buffer.concat([encodeSegmentHeader('test-cluster'), encodeRecords(records, encodedSize(records))]),
    );
    await expect(DiskTxnLog.open(dir, { clusterId: 'test-cluster', logger: silent })).rejects.toThrow(LogCorruptionError);
  });

  it('deletes a temp segment left by a crash during a roll', async () => {
    const dir = await tempDir();
    const log = await open(dir);
    await log.append(recs(1, 2));
    await log.close();
    await fsp.writeFile(path.join(dir, segmentName(makeZxid(1, 3)) + '.tmp'), Buffer.from('partial'));
    const again = await open(dir);
    expect(await fsp.readdir(dir)).toEqual([segmentName(makeZxid(1, 1))]);
    expect(again.lastZxid()).toBe(makeZxid(1, 2));
  });
});
