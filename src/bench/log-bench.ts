/**
 * `bench log`: txn log throughput with fdatasync on, against the raw rate of a bare write+fdatasync
 * loop on the same disk. The disk's sync rate drifts (other load, device caches), so each case runs in
 * short slices alternating with a raw loop and both figures come from the same stretch of time.
 * Every case uses a fresh log directory.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { RECORD_HEADER_BYTES } from '../storage/disk-log-format.js';
import { DiskTxnLog } from '../storage/disk-txn-log.js';
import type { LogRecord } from '../storage/ports.js';
import { makeZxid } from '../zxid.js';
import { positiveInt } from './cli-args.js';

export interface LogBenchOptions {
  dir: string;
  seconds: number;
  appenders: number;
  sizes: number[];
  batches: number[];
  /** Length of one measuring slice; contenders alternate slices. */
  sliceMs: number;
}

const progress = (msg: string): void => {
  process.stderr.write(`[bench log] ${msg}\n`);
};

/** One thing to measure, run in time slices so that contenders share the disk's changing conditions. */
interface Contender {
  /** Runs until `deadline` (performance.now() ms); returns operations done (syncs or records). */
  run(deadline: number): Promise<number>;
  close(): Promise<void>;
}

type RawMode = 'callback' | 'inline' | 'blocking';
const RAW_MODES: Record<RawMode, string> = {
  callback: 'fs.write + fs.fdatasync callbacks',
  inline: 'fs.writeSync + fs.fdatasync callback (what the log does for groups over 4 KiB)',
  blocking: 'fs.writeSync + fs.fdatasyncSync (what the log does for groups up to 4 KiB)',
};

/** A bare loop of `bytes`-byte appends, each followed by fdatasync. */
async function rawContender(dir: string, mode: RawMode, bytes = 128): Promise<Contender> {
  const file = path.join(dir, `raw-${mode}-${bytes}.dat`);
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(bytes, 0x5a);
  let pos = 0;
  const sync = (): Promise<void> => new Promise((res, rej) => fs.fdatasync(fd, (e) => (e ? rej(e) : res())));
  const write = (): Promise<number> => new Promise((res, rej) => fs.write(fd, buf, 0, buf.length, pos, (e, n) => (e ? rej(e) : res(n))));
  return {
    async run(deadline) {
      let n = 0;
      while (performance.now() < deadline) {
        if (mode === 'callback') await write();
        else fs.writeSync(fd, buf, 0, buf.length, pos);
        if (mode === 'blocking') fs.fdatasyncSync(fd);
        else await sync();
        pos += buf.length;
        n++;
      }
      return n;
    },
    async close() {
      fs.closeSync(fd);
      await fsp.rm(file, { force: true });
    },
  };
}

/** `appenders` loops, each appending `batch` records of `recordBytes` and awaiting each append. */
async function logContender(dir: string, recordBytes: number, batch: number, appenders: number): Promise<Contender & { log: DiskTxnLog }> {
  const caseDir = path.join(dir, `log-${recordBytes}-${batch}-${appenders}`);
  await fsp.rm(caseDir, { recursive: true, force: true });
  const log = await DiskTxnLog.open(caseDir, { clusterId: 'bench', logger: pino({ level: 'silent' }), fsync: true });
  const payload = new Uint8Array(recordBytes).fill(0x42);
  let counter = 0;
  return {
    log,
    async run(deadline) {
      let records = 0;
      const appender = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const recs = new Array<LogRecord>(batch);
          // zxids are taken at call time, so concurrent appenders still append in increasing order
          for (let i = 0; i < batch; i++) recs[i] = { zxid: makeZxid(1, ++counter), data: payload };
          await log.append(recs);
          records += batch;
        }
      };
      await Promise.all(Array.from({ length: appenders }, appender));
      return records;
    },
    async close() {
      await log.close();
      await fsp.rm(caseDir, { recursive: true, force: true });
    },
  };
}

interface Measured {
  ops: number;
  seconds: number;
  /** ops/s in each round, to compare contenders round by round. */
  perRound: number[];
}

/** Runs contenders in alternating slices, `seconds` in all for each. */
async function interleave(contenders: Contender[], seconds: number, sliceMs: number): Promise<Measured[]> {
  const totals: Measured[] = contenders.map(() => ({ ops: 0, seconds: 0, perRound: [] }));
  const rounds = Math.max(1, Math.round((seconds * 1000) / sliceMs));
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of contenders.entries()) {
      const t0 = performance.now();
      const ops = await c.run(t0 + sliceMs);
      const secs = (performance.now() - t0) / 1000;
      totals[i]!.ops += ops;
      totals[i]!.seconds += secs;
      totals[i]!.perRound.push(ops / secs);
    }
  }
  return totals;
}

/**
 * Median over rounds of a/b: robust to the bursts of foreign I/O that swing a shared disk's sync rate
 * several-fold within a second, which skew a ratio of totals.
 */
function medianRatio(a: Measured, b: Measured): number {
  const ratios = a.perRound.map((v, i) => v / b.perRound[i]!).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
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
  /** write+fdatasync/s of a raw loop writing the bytes of one append, in slices alternating with this case. */
  rawSyncsPerSec: number;
  /** Records/s over (raw syncs/s x records per full group), median over rounds: 100% = the disk's pace. */
  vsRaw: number;
}

export interface LogBenchResult {
  bench: 'log';
  node: string;
  platform: string;
  cpus: number;
  dir: string;
  secondsPerCase: number;
  sliceMs: number;
  /** Raw write+fdatasync/s per mode, interleaved with the log's batch-1 case (ratios: median over rounds). */
  raw: Record<RawMode, number>;
  batch1: { appendsPerSec: number; vsBestNonBlockingRaw: number; vsBlockingRaw: number };
  cases: CaseResult[];
  targets: { batch1AtLeast80PctOfRaw: boolean; batch100x100BRecordsPerSec: number; batch100x100BAtLeast300k: boolean };
}

export async function runLogBench(opts: LogBenchOptions): Promise<LogBenchResult> {
  await fsp.mkdir(opts.dir, { recursive: true });
  const sliceMs = opts.sliceMs;
  progress(`dir ${opts.dir}, ${opts.seconds}s per contender, in ${sliceMs} ms slices alternating with a raw loop`);

  progress('batch 1 (100 B) against raw write+fdatasync loops of 128-byte writes');
  const modes = Object.keys(RAW_MODES) as RawMode[];
  const raws = await Promise.all(modes.map((m) => rawContender(opts.dir, m)));
  const b1 = await logContender(opts.dir, 100, 1, 1);
  const paired = await interleave([...raws, b1], opts.seconds, sliceMs);
  for (const c of [...raws, b1]) await c.close();
  const rate = (t: Measured): number => t.ops / t.seconds;
  const raw = Object.fromEntries(modes.map((m, i) => [m, Math.round(rate(paired[i]!))])) as Record<RawMode, number>;
  const b1m = paired[modes.length]!;
  const ratioTo = (m: RawMode): number => medianRatio(b1m, paired[modes.indexOf(m)]!);
  const batch1 = {
    appendsPerSec: Math.round(rate(b1m)),
    vsBestNonBlockingRaw: round(Math.min(ratioTo('callback'), ratioTo('inline')), 3),
    vsBlockingRaw: round(ratioTo('blocking'), 3),
  };
  for (const m of modes) progress(`raw ${m} (${RAW_MODES[m]}): ${raw[m]}/s`);
  progress(`log batch 1: ${batch1.appendsPerSec}/s = ${pct(batch1.vsBestNonBlockingRaw)} of the best non-blocking raw loop`);

  const cases: CaseResult[] = [];
  for (const appenders of [1, opts.appenders]) {
    for (const size of opts.sizes) {
      for (const batch of opts.batches) {
        // The raw loop writes what one group commit of this case writes (all appenders' batches), so
        // both sync about the same bytes each time.
        const rawC = await rawContender(opts.dir, 'inline', appenders * batch * (size + RECORD_HEADER_BYTES));
        const logC = await logContender(opts.dir, size, batch, appenders);
        const [r, l] = await interleave([rawC, logC], opts.seconds, sliceMs);
        const stats = logC.log.stats;
        await rawC.close();
        await logC.close();
        const c: CaseResult = {
          recordBytes: size,
          batch,
          appenders,
          records: l!.ops,
          seconds: round(l!.seconds, 3),
          recordsPerSec: Math.round(rate(l!)),
          mbPerSec: round((rate(l!) * size) / 1e6, 2),
          appendsPerSec: Math.round(stats.appendCalls / l!.seconds),
          syncsPerSec: Math.round(stats.dataSyncs / l!.seconds),
          recordsPerSync: round(l!.ops / Math.max(1, stats.dataSyncs), 1),
          rawSyncsPerSec: Math.round(rate(r!)),
          vsRaw: round(medianRatio(l!, r!) / (batch * appenders), 3), // records/s per round -> syncs/s
        };
        progress(`${size} B x batch ${batch} x ${appenders} appender(s): ${c.recordsPerSec} records/s, ${c.mbPerSec} MB/s, ${c.recordsPerSync} records/sync (raw loop at the same bytes per sync: ${c.rawSyncsPerSec}/s)`);
        cases.push(c);
      }
    }
  }
  const b100 = cases.find((c) => c.recordBytes === 100 && c.batch === 100 && c.appenders === 1)?.recordsPerSec ?? 0;
  return {
    bench: 'log',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    dir: opts.dir,
    secondsPerCase: opts.seconds,
    sliceMs,
    raw,
    batch1,
    cases,
    targets: { batch1AtLeast80PctOfRaw: batch1.vsBestNonBlockingRaw >= 0.8, batch100x100BRecordsPerSec: b100, batch100x100BAtLeast300k: b100 >= 300_000 },
  };
}

export function formatLogBench(r: LogBenchResult): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const lines = [
    'raw write+fdatasync of 128 B, interleaved with the log at batch 1:',
    ...(Object.keys(RAW_MODES) as RawMode[]).map((m) => `  ${m.padEnd(8)} ${n(r.raw[m]).padStart(7)}/s  ${RAW_MODES[m]}`),
    `  log batch 1 (100 B): ${n(r.batch1.appendsPerSec)} appends/s = ${pct(r.batch1.vsBestNonBlockingRaw)} of the best non-blocking raw loop, ` +
      `${pct(r.batch1.vsBlockingRaw)} of the blocking one (target >= 80%)`,
    '',
    '| record | batch | appenders | records/s | MB/s | appends/s | fdatasyncs/s | records/sync | raw syncs/s, same bytes | log vs raw |',
    '|-------:|------:|----------:|----------:|-----:|----------:|-------------:|-------------:|------------------------:|-----------------:|',
  ];
  for (const c of r.cases) {
    lines.push(
      `| ${c.recordBytes} B | ${c.batch} | ${c.appenders} | ${n(c.recordsPerSec)} | ${c.mbPerSec} | ${n(c.appendsPerSec)} | ` +
        `${n(c.syncsPerSec)} | ${c.recordsPerSync} | ${n(c.rawSyncsPerSec)} | ${pct(c.vsRaw)} |`,
    );
  }
  lines.push('', `batch 100 x 100 B, one appender: ${n(r.targets.batch100x100BRecordsPerSec)} records/s (target >= 300,000)`);
  return lines.join('\n');
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
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
    .option('--slice-ms <n>', 'length of the alternating measuring slices', positiveInt, 100)
    .action(async (o: { dir?: string; seconds: number; appenders: number; sizes: number[]; batches: number[]; sliceMs: number }) => {
      const own = o.dir === undefined;
      const dir = o.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-log-bench-')));
      try {
        const result = await runLogBench({ dir, seconds: o.seconds, appenders: o.appenders, sizes: o.sizes, batches: o.batches, sliceMs: o.sliceMs });
        process.stdout.write(formatLogBench(result) + '\n' + JSON.stringify(result) + '\n');
      } finally {
        if (own) await fsp.rm(dir, { recursive: true, force: true });
      }
    });
}
