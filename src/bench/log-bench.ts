/**
 * `bench log`: txn log throughput with fdatasync on, against the raw rate of a bare write+fdatasync
 * loop on the same disk. Every case is time-boxed and runs on a fresh log directory.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { DiskTxnLog } from '../storage/disk-txn-log.js';
import type { LogRecord } from '../storage/ports.js';
import { makeZxid } from '../zxid.js';

export interface LogBenchOptions {
  dir: string;
  seconds: number;
  appenders: number;
  sizes: number[];
  batches: number[];
}

export interface RawResult {
  /** write+fdatasync per second, callback API (what the log uses; the event loop stays free). */
  asyncSyncsPerSec: number;
  /** The same with the blocking *Sync API, for reference. */
  blockingSyncsPerSec: number;
}

export interface CaseResult {
  recordBytes: number;
  batch: number;
  appenders: number;
  records: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  appendsPerSec: number;
  syncsPerSec: number;
  recordsPerSync: number;
}

export interface LogBenchResult {
  bench: 'log';
  node: string;
  platform: string;
  cpus: number;
  dir: string;
  secondsPerCase: number;
  raw: RawResult;
  cases: CaseResult[];
  targets: { batch1VsRawAsync: number; batch1VsRawBlocking: number; batch100x100BRecordsPerSec: number };
}

const progress = (msg: string): void => {
  process.stderr.write(`[bench log] ${msg}\n`);
};

export async function rawFdatasync(dir: string, seconds: number): Promise<RawResult> {
  const file = path.join(dir, 'raw.dat');
  const buf = Buffer.alloc(128, 0x5a);
  const fd = fs.openSync(file, 'w');
  try {
    let n = 0;
    let pos = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    await new Promise<void>((resolve, reject) => {
      const step = (): void => {
        if (performance.now() >= deadline) return resolve();
        fs.write(fd, buf, 0, buf.length, pos, (err) => {
          if (err) return reject(err);
          fs.fdatasync(fd, (err2) => {
            if (err2) return reject(err2);
            n++;
            pos += buf.length;
            step();
          });
        });
      };
      step();
    });
    const asyncSyncsPerSec = n / ((performance.now() - t0) / 1000);

    let m = 0;
    const t1 = performance.now();
    const deadline1 = t1 + seconds * 1000;
    while (performance.now() < deadline1) {
      fs.writeSync(fd, buf, 0, buf.length, pos);
      fs.fdatasyncSync(fd);
      pos += buf.length;
      m++;
    }
    return { asyncSyncsPerSec, blockingSyncsPerSec: m / ((performance.now() - t1) / 1000) };
  } finally {
    fs.closeSync(fd);
    await fsp.rm(file, { force: true });
  }
}

export async function logCase(dir: string, recordBytes: number, batch: number, appenders: number, seconds: number): Promise<CaseResult> {
  const caseDir = path.join(dir, `case-${recordBytes}-${batch}-${appenders}`);
  await fsp.rm(caseDir, { recursive: true, force: true });
  const log = await DiskTxnLog.open(caseDir, { clusterId: 'bench', logger: pino({ level: 'silent' }), fsync: true });
  const payload = new Uint8Array(recordBytes).fill(0x42);
  let counter = 0;
  let records = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const recs: LogRecord[] = new Array<LogRecord>(batch);
      // zxids are taken at call time, so concurrent appenders still append in increasing order
      for (let i = 0; i < batch; i++) recs[i] = { zxid: makeZxid(1, ++counter), data: payload };
      await log.append(recs);
      records += batch;
    }
  };
  await Promise.all(Array.from({ length: appenders }, appender));
  const elapsed = (performance.now() - t0) / 1000;
  const stats = log.stats;
  await log.close();
  await fsp.rm(caseDir, { recursive: true, force: true });
  return {
    recordBytes,
    batch,
    appenders,
    records,
    seconds: round(elapsed, 3),
    recordsPerSec: Math.round(records / elapsed),
    mbPerSec: round((records * recordBytes) / elapsed / 1e6, 2),
    appendsPerSec: Math.round(stats.appendCalls / elapsed),
    syncsPerSec: Math.round(stats.dataSyncs / elapsed),
    recordsPerSync: round(records / Math.max(1, stats.dataSyncs), 1),
  };
}

export async function runLogBench(opts: LogBenchOptions): Promise<LogBenchResult> {
  await fsp.mkdir(opts.dir, { recursive: true });
  progress(`dir ${opts.dir}, ${opts.seconds}s per case`);
  progress('raw write+fdatasync loop, 128-byte writes');
  const raw = await rawFdatasync(opts.dir, opts.seconds);
  progress(`raw: ${Math.round(raw.asyncSyncsPerSec)}/s (callback API), ${Math.round(raw.blockingSyncsPerSec)}/s (blocking API)`);
  const cases: CaseResult[] = [];
  for (const appenders of [1, opts.appenders]) {
    for (const size of opts.sizes) {
      for (const batch of opts.batches) {
        const c = await logCase(opts.dir, size, batch, appenders, opts.seconds);
        progress(`${size} B x batch ${batch} x ${appenders} appender(s): ${c.recordsPerSec} records/s, ${c.mbPerSec} MB/s, ${c.recordsPerSync} records/sync`);
        cases.push(c);
      }
    }
  }
  const find = (size: number, batch: number): CaseResult | undefined =>
    cases.find((c) => c.recordBytes === size && c.batch === batch && c.appenders === 1);
  const b1 = find(100, 1)?.appendsPerSec ?? 0;
  return {
    bench: 'log',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    dir: opts.dir,
    secondsPerCase: opts.seconds,
    raw: { asyncSyncsPerSec: Math.round(raw.asyncSyncsPerSec), blockingSyncsPerSec: Math.round(raw.blockingSyncsPerSec) },
    cases,
    targets: {
      batch1VsRawAsync: round(b1 / raw.asyncSyncsPerSec, 3),
      batch1VsRawBlocking: round(b1 / raw.blockingSyncsPerSec, 3),
      batch100x100BRecordsPerSec: find(100, 100)?.recordsPerSec ?? 0,
    },
  };
}

export function formatLogBench(r: LogBenchResult): string {
  const lines = [
    `raw write+fdatasync (128 B): ${r.raw.asyncSyncsPerSec}/s callback API, ${r.raw.blockingSyncsPerSec}/s blocking API`,
    '',
    '| record | batch | appenders | records/s | MB/s | appends/s | fdatasyncs/s | records/sync |',
    '|-------:|------:|----------:|----------:|-----:|----------:|-------------:|-------------:|',
  ];
  for (const c of r.cases) {
    lines.push(
      `| ${c.recordBytes} B | ${c.batch} | ${c.appenders} | ${c.recordsPerSec.toLocaleString('en-US')} | ${c.mbPerSec} | ` +
        `${c.appendsPerSec.toLocaleString('en-US')} | ${c.syncsPerSec.toLocaleString('en-US')} | ${c.recordsPerSync} |`,
    );
  }
  lines.push(
    '',
    `batch 1 (100 B) vs raw: ${(r.targets.batch1VsRawAsync * 100).toFixed(1)}% of the callback loop, ` +
      `${(r.targets.batch1VsRawBlocking * 100).toFixed(1)}% of the blocking loop (target >= 80%)`,
    `batch 100 x 100 B: ${r.targets.batch100x100BRecordsPerSec.toLocaleString('en-US')} records/s (target >= 300,000)`,
  );
  return lines.join('\n');
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function intList(v: string): number[] {
  return v.split(',').map((s) => positiveInt(s.trim()));
}

export function logBenchCommand(): Command {
  return new Command('log')
    .description('txn log throughput with fdatasync: raw write+fdatasync rate, then records/s and MB/s per record size and batch size')
    .option('--dir <path>', 'directory on the disk to measure (default: a temp dir)')
    .option('--seconds <n>', 'seconds per case', positiveNumber, 2)
    .option('--appenders <n>', 'appenders in the concurrent variant', positiveInt, 8)
    .option('--sizes <list>', 'record sizes in bytes', intList, [100, 1024])
    .option('--batches <list>', 'records per append call', intList, [1, 10, 100, 1000])
    .action(async (o: { dir?: string; seconds: number; appenders: number; sizes: number[]; batches: number[] }) => {
      const own = o.dir === undefined;
      const dir = o.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-log-bench-')));
      try {
        const result = await runLogBench({ dir, seconds: o.seconds, appenders: o.appenders, sizes: o.sizes, batches: o.batches });
        process.stdout.write(formatLogBench(result) + '\n' + JSON.stringify(result) + '\n');
      } finally {
        if (own) await fsp.rm(dir, { recursive: true, force: true });
      }
    });
}
