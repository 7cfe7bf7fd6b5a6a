import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE, DiskEpochStore } from '../../src/storage/disk-epoch-store.js';
import { EpochFileError, EpochOrderError } from '../../src/storage/disk-errors.js';
import { makeZxid } from '../../src/zxid.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'zab-epoch-'));
  dirs.push(d);
  return d;
}

const silent = pino({ level: 'silent' });
const open = (dir: string): Promise<DiskEpochStore> => DiskEpochStore.open(dir, { logger: silent });

describe('DiskEpochStore', () => {
  it('reads 0/0 for a fresh server', async () => {
    expect(await (await open(await tempDir())).load()).toEqual({ acceptedEpoch: 0, currentEpoch: 0 });
  });

  it('persists both epochs as decimal text, across reopen', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    await store.setAcceptedEpoch(7);
    await store.setCurrentEpoch(7);
    await store.setAcceptedEpoch(8);
    expect(await fsp.readFile(path.join(dir, ACCEPTED_EPOCH_FILE), 'utf8')).toBe('8\n');
    expect(await (await open(dir)).load()).toEqual({ acceptedEpoch: 8, currentEpoch: 7 });
    expect((await fsp.readdir(dir)).sort()).toEqual([ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE]);
  });

  it('treats acceptedEpoch < currentEpoch on disk as fatal', async () => {
    const dir = await tempDir();
    await fsp.writeFile(path.join(dir, ACCEPTED_EPOCH_FILE), '3\n');
    await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE), '4\n');
    const err = await (await open(dir)).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EpochOrderError);
    expect((err as Error).message).toMatch(/acceptedEpoch 3 < currentEpoch 4/);
  });

  it('refuses to write currentEpoch above acceptedEpoch', async () => {
    const store = await open(await tempDir());
    await store.setAcceptedEpoch(2);
    await expect(store.setCurrentEpoch(3)).rejects.toThrow(/setAcceptedEpoch first/);
    await expect(store.setAcceptedEpoch(-1)).rejects.toThrow(RangeError);
    expect(await store.load()).toEqual({ acceptedEpoch: 2, currentEpoch: 0 });
  });

  it.each(['', 'abc', '12x\n', '-1\n', '99999999999\n', '4294967296\n'])('names the file when it holds %j', async (content) => {
    const dir = await tempDir();
    await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE), content);
    const err = await (await open(dir)).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EpochFileError);
    expect((err as Error).message).toContain(path.join(dir, CURRENT_EPOCH_FILE));
  });

  it('defaults a missing acceptedEpoch to currentEpoch', async () => {
    const dir = await tempDir();
    await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE), '5\n');
    expect(await (await open(dir)).load()).toEqual({ acceptedEpoch: 5, currentEpoch: 5 });
  });

  it('deletes temp files left by a crash mid-write and keeps the old value', async () => {
    const dir = await tempDir();
    await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE), '2\n');
    await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE + '.tmp'), '3');
    const store = await open(dir);
    expect(await fsp.readdir(dir)).toEqual([CURRENT_EPOCH_FILE]);
    expect(await store.load()).toEqual({ acceptedEpoch: 2, currentEpoch: 2 });
  });

  describe('crash between logging txns of a new epoch and writing currentEpoch (ZOOKEEPER-1653/2354)', () => {
    it('load() does not throw and returns what is on disk; reconcileWithLog raises currentEpoch durably', async () => {
      const dir = await tempDir();
      const store = await open(dir);
      await store.setAcceptedEpoch(3); // NEWEPOCH acked; currentEpoch file never written (crash)
      expect(await store.load()).toEqual({ acceptedEpoch: 3, currentEpoch: 0 });
      const lastLogged = makeZxid(3, 17);
      expect(await store.reconcileWithLog(lastLogged)).toEqual({ acceptedEpoch: 3, currentEpoch: 3, repaired: true });
      expect(await (await open(dir)).load()).toEqual({ acceptedEpoch: 3, currentEpoch: 3 });
    });

    it('also repairs an older currentEpoch file, raising acceptedEpoch if it lags too', async () => {
      const dir = await tempDir();
      await fsp.writeFile(path.join(dir, ACCEPTED_EPOCH_FILE), '2\n');
      await fsp.writeFile(path.join(dir, CURRENT_EPOCH_FILE), '2\n');
      const store = await open(dir);
      expect(await store.reconcileWithLog(makeZxid(4, 1))).toEqual({ acceptedEpoch: 4, currentEpoch: 4, repaired: true });
      expect(await (await open(dir)).load()).toEqual({ acceptedEpoch: 4, currentEpoch: 4 });
    });

    it('changes nothing when the log is not ahead', async () => {
      const dir = await tempDir();
      const store = await open(dir);
      await store.setAcceptedEpoch(5);
      await store.setCurrentEpoch(4);
      expect(await store.reconcileWithLog(makeZxid(4, 9))).toEqual({ acceptedEpoch: 5, currentEpoch: 4, repaired: false });
      expect(await store.reconcileWithLog(0n)).toEqual({ acceptedEpoch: 5, currentEpoch: 4, repaired: false });
    });
  });
});
