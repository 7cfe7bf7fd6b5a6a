/**
 * Random sequences of append / truncateAfter / purgeUpTo / reopen against an in-memory model, with
 * tiny segments so every operation crosses segment boundaries.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskTxnLog } from '../../src/storage/disk-txn-log.js';
import type { LogRecord } from '../../src/storage/ports.js';
import type { Zxid } from '../../src/zxid.js';

type Op =
  | { kind: 'append'; gaps: number[]; size: number }
  | { kind: 'appendConcurrent'; batches: number[] }
  | { kind: 'truncate'; back: number }
  | { kind: 'purge'; back: number }
  | { kind: 'reopen' }
  | { kind: 'read'; afterBack: number; span: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), gaps: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 6 }), size: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('appendConcurrent' as const), batches: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), back: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), afterBack: fc.integer({ min: 0, max: 15 }), span: fc.integer({ min: 0, max: 10 }) }) },
);

const silent = pino({ level: 'silent' });
let root: string;
let run = 0;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-model-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function data(zxid: Zxid, size: number): Uint8Array {
  return new Uint8Array(size).fill(Number(zxid % 251n));
}

async function readAll(log: DiskTxnLog, after: Zxid = 0n, upTo?: Zxid): Promise<{ zxid: Zxid; data: number[] }[]> {
  const out: { zxid: Zxid; data: number[] }[] = [];
  for await (const batch of log.read(after, upTo)) for (const r of batch) out.push({ zxid: r.zxid, data: [...r.data] });
  return out;
}

describe('DiskTxnLog against a model', () => {
  it('matches the model after random op sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 60, max: 400 }), async (ops, segmentBytes) => {
        const dir = path.join(root, `run-${run++}`);
        const open = (): Promise<DiskTxnLog> => DiskTxnLog.open(dir, { clusterId: 'model', logger: silent, fsync: false, segmentBytes });
        let log = await open();
        // The model: every record ever appended and not truncated. Purged ones stay in the model; the
        // log may have dropped a prefix of them (whole segments only).
        let model: { zxid: Zxid; data: number[] }[] = [];
        let tail = 0n; // the bound appends must exceed
        let purgedUpTo = 0n;
        const pick = (back: number): Zxid => (model.length === 0 ? 0n : (model[Math.max(0, model.length - 1 - back)]!.zxid - (back % 2 === 0 ? 0n : 1n)));
        try {
          for (const op of ops) {
            if (op.kind === 'append') {
              const batch: LogRecord[] = [];
              for (const g of op.gaps) {
                tail += BigInt(g);
                batch.push({ zxid: tail, data: data(tail, op.size) });
              }
              await log.append(batch);
              model.push(...batch.map((r) => ({ zxid: r.zxid, data: [...r.data] })));
            } else if (op.kind === 'appendConcurrent') {
              const calls: Promise<void>[] = [];
              for (const n of op.batches) {
                const batch: LogRecord[] = [];
                for (let i = 0; i < n; i++) batch.push({ zxid: ++tail, data: data(tail, n * 7) });
                calls.push(log.append(batch));
                model.push(...batch.map((r) => ({ zxid: r.zxid, data: [...r.data] })));
              }
              await Promise.all(calls);
            } else if (op.kind === 'truncate') {
              const z = pick(op.back);
              await log.truncateAfter(z);
              model = model.filter((r) => r.zxid <= z);
              if (z < tail) tail = z;
            } else if (op.kind === 'purge') {
              const z = pick(op.back);
              await log.purgeUpTo(z);
              if (z > purgedUpTo) purgedUpTo = z;
            } else if (op.kind === 'reopen') {
              await log.close();
              log = await open();
              // after reopen the log only knows what is on disk
              tail = log.lastZxid() > tail ? log.lastZxid() : tail;
            } else {
              const after = pick(op.afterBack);
              const upTo = after + BigInt(op.span);
              const want = model.filter((r) => r.zxid > after && r.zxid <= upTo && r.zxid > purgedUpTo);
              const got = await readAll(log, after, upTo);
              // Purge keeps a segment holding records <= its bound, so the log may return more old ones.
              expect(got.filter((r) => r.zxid > purgedUpTo)).toEqual(want);
              expect(model).toEqual(expect.arrayContaining(got));
            }

            const all = await readAll(log);
            const kept = model.slice(model.length - all.length);
            expect(all).toEqual(kept); // a suffix of the model...
            expect(all.length).toBeGreaterThanOrEqual(model.filter((r) => r.zxid > purgedUpTo).length); // ...missing only purged records
            expect(log.lastZxid()).toBe(all.at(-1)?.zxid ?? 0n);
            expect(log.firstZxid()).toBe(all[0]?.zxid ?? 0n);
          }
        } finally {
          await log.close();
        }
        // Purged segments may mean the log is shorter than the model, but never longer.
        const reopened = await open();
        const finalModel = model.slice(model.length - (await readAll(reopened)).length);
        expect(await readAll(reopened)).toEqual(finalModel);
        await reopened.close();
      }),
      { numRuns: 150 },
    );
  });
});
