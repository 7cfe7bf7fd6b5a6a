/**
 * Crash cuts: the tail of the last segment is cut, zero-padded or bit-flipped at every byte, and
 * reopening must yield exactly the records wholly before the damage. Damage followed by a valid record
 * must be a LogCorruptionError naming file and offset.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskTxnLog } from '../../src/storage/disk-txn-log.js';
import { LogCorruptionError } from '../../src/storage/disk-errors.js';
import { encodeSegmentHeader, RECORD_HEADER_BYTES, segmentName } from '../../src/storage/disk-log-format.js';
import type { LogRecord } from '../../src/storage/ports.js';
import { makeZxid, type Zxid } from '../../src/zxid.js';

const CLUSTER = 'crash-cluster';
const HEADER = encodeSegmentHeader(CLUSTER).length;

interface Captured {
  msg: string;
  file?: string;
  offset?: number;
  bytesDropped?: number;
}

function capture(): { logger: pino.Logger; lines: Captured[] } {
  const lines: Captured[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Captured) });
  return { logger, lines };
}

const silent = pino({ level: 'silent' });
let root: string;
let caseNo = 0;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-crash-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function rec(counter: number, size: number): LogRecord {
  return { zxid: makeZxid(3, counter), data: new Uint8Array(size).fill(counter) };
}

/** Record i starts at offsets[i] and ends at offsets[i + 1] within the segment file. */
function layout(records: LogRecord[]): number[] {
  const offsets = [HEADER];
  for (const r of records) offsets.push(offsets.at(-1)! + RECORD_HEADER_BYTES + r.data.length);
  return offsets;
}

/** A directory holding `earlier` segment files unchanged plus the last segment with `bytes`. */
async function dirWith(earlier: Map<string, Buffer>, lastName: string, bytes: Buffer): Promise<string> {
  const dir = path.join(root, `case-${caseNo++}`);
  await fsp.mkdir(dir);
  for (const [name, content] of earlier) await fsp.writeFile(path.join(dir, name), content);
  await fsp.writeFile(path.join(dir, lastName), bytes);
  return dir;
}

async function zxidsAfterOpen(dir: string, logger = silent): Promise<{ zxids: Zxid[]; last: Zxid }> {
  const log = await DiskTxnLog.open(dir, { clusterId: CLUSTER, logger, fsync: false });
  try {
    const zxids: Zxid[] = [];
    for await (const batch of log.read(0n)) for (const r of batch) zxids.push(r.zxid);
    return { zxids, last: log.lastZxid() };
  } finally {
    await log.close();
  }
}

/** Builds a log with `earlierSegments` full segments before the last one, through the real writer. */
async function buildLog(earlierSegments: number): Promise<{
  earlier: Map<string, Buffer>;
  earlierZxids: Zxid[];
  lastName: string;
  lastBytes: Buffer;
  lastRecords: LogRecord[];
}> {
  const dir = path.join(root, `build-${caseNo++}`);
  const log = await DiskTxnLog.open(dir, { clusterId: CLUSTER, logger: silent, fsync: false, segmentBytes: 1 });
  let c = 1;
  const earlierZxids: Zxid[] = [];
  for (let s = 0; s < earlierSegments; s++) {
    const batch = [rec(c, 5), rec(c + 1, 0)]; // segmentBytes 1: every batch gets its own segment
    c += 2;
    earlierZxids.push(...batch.map((r) => r.zxid));
    await log.append(batch);
  }
  // The last segment: sizes vary so cuts fall in headers, bodies and empty records.
  const lastRecords = [rec(c, 3), rec(c + 1, 17), rec(c + 2, 0), rec(c + 3, 9), rec(c + 4, 1), rec(c + 5, 24)];
  await log.append(lastRecords);
  await log.close();
  const names = (await fsp.readdir(dir)).sort((a, b) => (BigInt('0x' + a.slice(4)) < BigInt('0x' + b.slice(4)) ? -1 : 1));
  const lastName = names.pop()!;
  expect(lastName).toBe(segmentName(lastRecords[0]!.zxid));
  const earlier = new Map<string, Buffer>();
  for (const n of names) earlier.set(n, await fsp.readFile(path.join(dir, n)));
  return { earlier, earlierZxids, lastName, lastBytes: await fsp.readFile(path.join(dir, lastName)), lastRecords };
}

describe.each([0, 2])('crash cuts with %i earlier segments', (earlierSegments) => {
  let built: Awaited<ReturnType<typeof buildLog>>;
  let offsets: number[];
  beforeAll(async () => {
    built = await buildLog(earlierSegments);
    offsets = layout(built.lastRecords);
    expect(offsets.at(-1)).toBe(built.lastBytes.length);
  });

  /** Records wholly before byte `cut` of the last segment, after the earlier segments' records. */
  function durablePrefix(cut: number): Zxid[] {
    const whole = built.lastRecords.filter((_, i) => offsets[i + 1]! <= cut).map((r) => r.zxid);
    return [...built.earlierZxids, ...whole];
  }

  it('a cut at every byte offset of the last records keeps exactly the whole records before it', async () => {
    const from = offsets[built.lastRecords.length - 4]!; // the last four records
    for (let cut = HEADER; cut < built.lastBytes.length; cut++) {
      if (cut < from && cut !== HEADER) continue;
      const { logger, lines } = capture();
      const dir = await dirWith(built.earlier, built.lastName, built.lastBytes.subarray(0, cut));
      const expected = durablePrefix(cut);
      const got = await zxidsAfterOpen(dir, logger);
      expect(got.zxids, `cut at ${cut}`).toEqual(expected);
      expect(got.last).toBe(expected.at(-1) ?? 0n);
      if (!offsets.includes(cut)) {
        const warn = lines.find((l) => l.msg.includes('torn write'));
        expect(warn, `cut at ${cut}`).toMatchObject({ file: path.join(dir, built.lastName), offset: Math.max(...offsets.filter((o) => o <= cut)) });
        expect(warn!.bytesDropped).toBe(cut - warn!.offset!);
      }
      // The cut is durable: a second open sees the same prefix and appending continues after it.
      const log = await DiskTxnLog.open(dir, { clusterId: CLUSTER, logger: silent, fsync: false });
      const nextZxid = makeZxid(4, 1);
      await log.append([{ zxid: nextZxid, data: new Uint8Array([1, 2, 3]) }]);
      await log.close();
      expect((await zxidsAfterOpen(dir)).zxids).toEqual([...expected, nextZxid]);
    }
  });

  it('zero padding after a cut at every byte offset is dropped like the cut', async () => {
    const from = offsets[built.lastRecords.length - 4]!;
    for (let cut = from; cut < built.lastBytes.length; cut++) {
      const padded = Buffer.concat([built.lastBytes.subarray(0, cut), Buffer.alloc(built.lastBytes.length - cut + 4096)]);
      const dir = await dirWith(built.earlier, built.lastName, padded);
      expect((await zxidsAfterOpen(dir)).zxids, `cut at ${cut}`).toEqual(durablePrefix(cut));
    }
  });

  it('a flipped byte anywhere in the last record drops just that record', async () => {
    const start = offsets[built.lastRecords.length - 1]!;
    for (let at = start; at < built.lastBytes.length; at++) {
      const bytes = Buffer.from(built.lastBytes);
      bytes[at]! ^= 0x40;
      const dir = await dirWith(built.earlier, built.lastName, bytes);
      expect((await zxidsAfterOpen(dir)).zxids, `flip at ${at}`).toEqual(durablePrefix(start));
    }
  });

  it('a flipped byte in an earlier record of the last segment is a LogCorruptionError naming file and offset', async () => {
    for (let i = 0; i < built.lastRecords.length - 1; i++) {
      for (const delta of [0, 3, 4, 8, 15, RECORD_HEADER_BYTES]) {
        const at = offsets[i]! + delta;
        if (at >= offsets[i + 1]!) continue;
        const bytes = Buffer.from(built.lastBytes);
        bytes[at]! ^= 0x40;
        const dir = await dirWith(built.earlier, built.lastName, bytes);
        const err = await zxidsAfterOpen(dir).catch((e: unknown) => e);
        expect(err, `record ${i} byte ${delta}`).toBeInstanceOf(LogCorruptionError);
        const file = path.join(dir, built.lastName);
        expect((err as LogCorruptionError).file).toBe(file);
        expect((err as LogCorruptionError).offset).toBe(offsets[i]);
        expect((err as Error).message).toContain(`${file} at byte offset ${offsets[i]}`);
        expect((err as Error).message).toMatch(/resync/);
      }
    }
  });
});
