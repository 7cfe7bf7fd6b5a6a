import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SimDisk, type DiskOptions } from '../../src/sim/memory-storage.js';
import { Prng } from '../../src/sim/prng.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import type { LogRecord } from '../../src/storage/ports.js';

const rec = (z: number): LogRecord => ({ zxid: BigInt(z), data: new Uint8Array([z & 0xff]) });
const zxids = (rs: readonly LogRecord[]) => rs.map((r) => Number(r.zxid));

function setup(opts: DiskOptions = {}, seed = 1) {
  const s = new Scheduler();
  const disk = new SimDisk(s, new Prng(seed), { syncLatency: { min: 1, max: 1 }, ...opts });
  return { s, disk, ...disk.open() };
}

async function readAll(log: { read(after: bigint, upTo?: bigint): AsyncIterable<LogRecord[]> }, after = 0n, upTo?: bigint) {
  const out: number[] = [];
  for await (const batch of log.read(after, upTo)) out.push(...zxids(batch));
  return out;
}

describe('SimTxnLog', () => {
  it('resolves an append only once it is durable', async () => {
    const { s, disk, log } = setup();
    let done = false;
    void log.append([rec(1), rec(2)]).then(() => (done = true));
    expect(log.lastZxid()).toBe(0n);
    expect(log.writtenZxid()).toBe(2n);
    expect(zxids(disk.durableLog())).toEqual([]);
    await s.run();
    expect(done).toBe(true);
    expect(s.now()).toBe(1);
    expect(log.lastZxid()).toBe(2n);
    expect(log.firstZxid()).toBe(1n);
    expect(zxids(disk.durableLog())).toEqual([1, 2]);
  });

  it('group-commits appends that arrive while a sync is in flight', async () => {
    const { s, log } = setup();
    const doneAt: Record<number, number> = {};
    const append = (z: number) => void log.append([rec(z)]).then(() => (doneAt[z] = s.now()));
    append(1);
    s.at(0.2, () => append(2));
    s.at(0.5, () => append(3));
    s.at(1.5, () => append(4));
    await s.run();
    // 1 syncs alone (0 -> 1); 2 and 3 share the next sync (1 -> 2); 4 waits for that one (2 -> 3)
    expect(doneAt).toEqual({ 1: 1, 2: 2, 3: 2, 4: 3 });
  });

  it('rejects appends that do not extend the written log', async () => {
    const { log } = setup();
    void log.append([rec(5)]);
    await expect(log.append([rec(5)])).rejects.toThrow(RangeError);
    await expect(log.append([rec(7), rec(6)])).rejects.toThrow(RangeError);
  });

  it('reads ranges of the written log in order', async () => {
    const { s, log } = setup();
    const all = Array.from({ length: 2500 }, (_, i) => i + 1);
    void log.append(all.map(rec));
    await s.run();
    expect(await readAll(log)).toEqual(all);
    expect(await readAll(log, 10n, 20n)).toEqual(all.slice(10, 20));
    expect(await readAll(log, 2500n)).toEqual([]);
    const batches: number[] = [];
    for await (const b of log.read(0n)) batches.push(b.length);
    expect(batches).toEqual([1000, 1000, 500]);
  });

  it('truncates and purges durably', async () => {
    const { s, disk, log } = setup();
    void log.append([1, 2, 3, 4, 5].map(rec));
    await s.run();
    void log.truncateAfter(3n);
    expect(await readAll(log)).toEqual([1, 2, 3]);
    await s.run();
    void log.purgeUpTo(1n);
    await s.run();
    expect(zxids(disk.durableLog())).toEqual([2, 3]);
    expect(log.firstZxid()).toBe(2n);
    void log.append([rec(4)]); // after a truncate the log may grow again from the cut
    await s.run();
    expect(log.lastZxid()).toBe(4n);
  });

  it('a crash loses unsynced appends and an unsynced truncate, never acknowledged ones', async () => {
    const { s, disk, log } = setup();
    void log.append([1, 2, 3].map(rec));
    await s.run();
    void log.append([rec(4)]);
    void log.truncateAfter(1n);
    await s.run({ until: s.now() + 0.5 });
    disk.crash();
    const log2 = disk.open().log;
    expect(await readAll(log2)).toEqual([1, 2, 3]);
    expect(log2.lastZxid()).toBe(3n);
    await s.run();
    expect(zxids(disk.durableLog())).toEqual([1, 2, 3]); // the lost sync never lands
  });

  it("a crashed incarnation's handles neither act nor settle", async () => {
    const { s, disk, log, epochs } = setup();
    disk.crash();
    let settled = false;
    void log.append([rec(1)]).finally(() => (settled = true));
    void epochs.setCurrentEpoch(3).finally(() => (settled = true));
    await s.run();
    expect(settled).toBe(false);
    expect(zxids(disk.durableLog())).toEqual([]);
    expect(await readAll(log)).toEqual([]);
  });

  it('close() makes the handle refuse writes', async () => {
    const { log } = setup();
    await log.close();
    expect(() => log.append([rec(1)])).toThrow(/closed/);
  });

  it('torn writes: a crash keeps the acked records plus a prefix of the unsynced ones', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 30 }), fc.boolean(), async (seed, n, torn) => {
        const s = new Scheduler();
        const prng = new Prng(seed);
        const disk = new SimDisk(s, prng.fork('disk'), { syncLatency: { min: 0.5, max: 3 }, tornWrites: torn });
        const { log } = disk.open();
        const acked: number[] = [];
        const ops = prng.fork('ops');
        let t = 0;
        for (let z = 1; z <= n; z++) {
          const batch = [rec(z)];
          t += ops.range(0, 1);
          s.at(t, () => void log.append(batch).then(() => acked.push(z)));
        }
        await s.run({ until: ops.range(0, 12) });
        disk.crash();
        const survived = zxids(disk.durableLog());
        expect(survived.slice(0, acked.length)).toEqual(acked);
        expect(survived).toEqual(Array.from({ length: survived.length }, (_, i) => i + 1));
        if (!torn) expect(survived).toEqual(acked);
      }),
      { numRuns: 200 },
    );
  });

  it('torn writes do leave partial batches sometimes', async () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const { s, disk, log } = setup({ tornWrites: true }, seed);
      void log.append([1, 2, 3, 4].map(rec));
      await s.run({ until: 0.5 });
      disk.crash();
      seen.add(disk.durableLog().length);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('SimEpochStore', () => {
  it('persists epochs after the sync; a crash before it loses them', async () => {
    const { s, disk, epochs } = setup();
    expect(await epochs.load()).toEqual({ acceptedEpoch: 0, currentEpoch: 0 });
    await Promise.all([epochs.setAcceptedEpoch(2), s.run()]);
    void epochs.setCurrentEpoch(2);
    expect(await epochs.load()).toEqual({ acceptedEpoch: 2, currentEpoch: 2 }); // written, not yet durable
    disk.crash();
    expect(await disk.open().epochs.load()).toEqual({ acceptedEpoch: 2, currentEpoch: 0 });
    expect(disk.durableEpochs()).toEqual({ acceptedEpoch: 2, currentEpoch: 0 });
  });

  it('refuses to load acceptedEpoch < currentEpoch', async () => {
    const { s, disk, epochs } = setup();
    await Promise.all([epochs.setCurrentEpoch(4), s.run()]);
    await expect(disk.open().epochs.load()).rejects.toThrow(/acceptedEpoch 0 < currentEpoch 4/);
  });
});

describe('SimSnapshotStore', () => {
  const snap = (z: number) => ({ zxid: BigInt(z), data: new Uint8Array([z]) });

  it('saves durably, keeps the newest few and loads the newest valid one', async () => {
    const { s, disk, snapshots } = setup({ snapshotRetain: 2 });
    expect(await snapshots.loadNewest()).toBeNull();
    for (const z of [5, 9, 7]) void snapshots.save(snap(z));
    await s.run();
    expect(await snapshots.list()).toEqual([{ zxid: 7n }, { zxid: 9n }]);
    expect(await snapshots.loadNewest()).toEqual(snap(9));
    expect(disk.corruptNewestSnapshot()).toBe(true);
    expect(await snapshots.loadNewest()).toEqual(snap(7));
    expect(disk.durableSnapshots()).toEqual([{ zxid: 7n }]);
  });

  it('a crash before the sync loses the snapshot', async () => {
    const { s, disk, snapshots } = setup();
    void snapshots.save(snap(1));
    await s.run();
    void snapshots.save(snap(2));
    disk.crash();
    expect(await disk.open().snapshots.list()).toEqual([{ zxid: 1n }]);
  });

  it('slow disks: setSlow and slowProbability use the slow latency', async () => {
    const { s, disk, log } = setup({ slowLatency: { min: 50, max: 50 } });
    disk.setSlow(true);
    void log.append([rec(1)]);
    await s.run();
    expect(s.now()).toBe(50);
    disk.setSlow(false);
    const d2 = new SimDisk(s, new Prng(3), { syncLatency: { min: 1, max: 1 }, slowLatency: { min: 100, max: 100 }, slowProbability: 0.5 });
    const lat = Array.from({ length: 200 }, () => d2.drawSyncLatency());
    const slow = lat.filter((x) => x === 100).length;
    expect(slow).toBeGreaterThan(60);
    expect(slow).toBeLessThan(140);
  });
});
