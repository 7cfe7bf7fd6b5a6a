import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskSnapshotStore, snapshotName } from '../../src/storage/disk-snapshot-store.js';
import { ClusterIdMismatchError } from '../../src/storage/disk-errors.js';
import { makeZxid } from '../../src/zxid.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-snap-'));
  dirs.push(d);
  return d;
}

interface Captured {
  msg: string;
  file?: string;
  reason?: string;
}

function capture(): { logger: pino.Logger; lines: Captured[] } {
  const lines: Captured[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Captured) });
  return { logger, lines };
}

const silent = pino({ level: 'silent' });
const Z1 = makeZxid(1, 10);
const Z2 = makeZxid(1, 20);
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

describe('DiskSnapshotStore', () => {
  it('returns null when there is no snapshot', async () => {
    const store = await DiskSnapshotStore.open(await tempDir(), { clusterId: 'c', logger: silent });
    expect(await store.loadNewest()).toBeNull();
    expect(await store.list()).toEqual([]);
  });

  it('saves and loads the newest, across reopen', async () => {
    const dir = await tempDir();
    const store = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent });
    await store.save({ zxid: Z1, data: bytes('one') });
    await store.save({ zxid: Z2, data: bytes('two') });
    expect(await fsp.readdir(dir)).toEqual([snapshotName(Z1), snapshotName(Z2)].sort());
    expect(snapshotName(Z2)).toBe('snapshot.100000014');
    const again = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent });
    const newest = await again.loadNewest();
    expect(newest?.zxid).toBe(Z2);
    expect(Buffer.from(newest!.data).toString()).toBe('two');
    expect(await again.list()).toEqual([{ zxid: Z1 }, { zxid: Z2 }]);
  });

  it('keeps only the newest `retain` snapshots', async () => {
    const dir = await tempDir();
    const store = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent, retain: 2 });
    for (let c = 1; c <= 5; c++) await store.save({ zxid: makeZxid(1, c), data: bytes(`s${c}`) });
    expect((await store.list()).map((m) => m.zxid)).toEqual([makeZxid(1, 4), makeZxid(1, 5)]);
  });

  it('never prunes the snapshot just saved in favour of newer files', async () => {
    const dir = await tempDir();
    const store = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent, retain: 1 });
    await store.save({ zxid: Z2, data: bytes('two') });
    await fsp.writeFile(path.join(dir, snapshotName(Z2)), 'garbage');
    await store.save({ zxid: Z1, data: bytes('one') });
    expect((await store.loadNewest())?.zxid).toBe(Z1);
  });

  it('deletes temp files left by a crash on open', async () => {
    const dir = await tempDir();
    await fsp.writeFile(path.join(dir, snapshotName(Z1) + '.tmp'), 'half');
    await fsp.writeFile(path.join(dir, 'unrelated.tmp'), 'not ours');
    await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent });
    expect(await fsp.readdir(dir)).toEqual(['unrelated.tmp']);
  });

  it('refuses a snapshot of another cluster', async () => {
    const dir = await tempDir();
    await (await DiskSnapshotStore.open(dir, { clusterId: 'a', logger: silent })).save({ zxid: Z1, data: bytes('x') });
    const other = await DiskSnapshotStore.open(dir, { clusterId: 'b', logger: silent });
    await expect(other.loadNewest()).rejects.toThrow(ClusterIdMismatchError);
  });

  it('detects a cut or a flipped byte at every offset and falls back to the previous snapshot', async () => {
    const dir = await tempDir();
    const store = await DiskSnapshotStore.open(dir, { clusterId: 'cluster', logger: silent });
    await store.save({ zxid: Z1, data: bytes('older state') });
    await store.save({ zxid: Z2, data: bytes('the newest state') });
    const file = path.join(dir, snapshotName(Z2));
    const good = await fsp.readFile(file);
    const damaged: Buffer[] = [];
    for (let cut = 0; cut < good.length; cut++) damaged.push(good.subarray(0, cut));
    for (let at = 0; at < good.length; at++) {
      const b = Buffer.from(good);
      b[at]! ^= 0x01;
      damaged.push(b);
    }
    damaged.push(Buffer.concat([good, Buffer.from([0])]));
    for (const [i, content] of damaged.entries()) {
      await fsp.writeFile(file, content);
      const { logger, lines } = capture();
      const s = await DiskSnapshotStore.open(dir, { clusterId: 'cluster', logger });
      const newest = await s.loadNewest();
      expect(newest?.zxid, `case ${i}`).toBe(Z1);
      expect(Buffer.from(newest!.data).toString()).toBe('older state');
      expect(lines.some((l) => l.file === file && l.msg.includes('invalid snapshot')), `case ${i}`).toBe(true);
    }
    await fsp.writeFile(file, good);
    expect((await store.loadNewest())?.zxid).toBe(Z2);
  });

  it('list() reads each file once per store; a new store checks them all again', async () => {
    const dir = await tempDir();
    const store = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent });
    await store.save({ zxid: Z1, data: bytes('one') });
    await store.save({ zxid: Z2, data: bytes('two') });
    expect(await store.list()).toEqual([{ zxid: Z1 }, { zxid: Z2 }]);
    // Damage after the fact: this store already knows both files (it wrote them) and reads neither...
    await fsp.writeFile(path.join(dir, snapshotName(Z1)), 'garbage');
    expect(await store.list()).toEqual([{ zxid: Z1 }, { zxid: Z2 }]);
    // ...a store opened afterwards (a restart) reads and checks them.
    const again = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent });
    expect(await again.list()).toEqual([{ zxid: Z2 }]);
    // A file pruned away is forgotten.
    const pruning = await DiskSnapshotStore.open(dir, { clusterId: 'c', logger: silent, retain: 1 });
    await pruning.save({ zxid: makeZxid(2, 1), data: bytes('three') });
    expect(await pruning.list()).toEqual([{ zxid: makeZxid(2, 1) }]);
  });
});
