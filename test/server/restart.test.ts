/**
 * Restart of the whole ensemble: SIGKILL every server (and the ensemble), start `zab ensemble` again on
 * the same data dir: every acknowledged write is still there, on every server. A small snapCount makes
 * the servers take snapshots (and purge), so recovery goes through snapshot + log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZabClient } from '../../src/client/client.js';
import { clientAddr, ensureBuilt, freeBasePort, readAll, startEnsemble, statusOf, waitUntil, ZabProc } from './helpers.js';

let tmp = '';
const procs: ZabProc[] = [];

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-restart-'));
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ensemble restart', () => {
  it('SIGKILL of every server, then a restart on the same data dir, keeps every acknowledged write', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    const addrs = [1, 2, 3].map((i) => clientAddr(base, i));
    const ens = startEnsemble(dataDir, base, 3, ['--snap-count', '40']);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/);

    const acked = new Map<string, string>();
    const client = new ZabClient({ servers: addrs.join(',') });
    // Pipelined batches: znodes created, overwritten twice (conditionally: version round-1), some deleted.
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          (round === 0 ? client.create(`/k${i}`, `r0-${i}`) : client.setData(`/k${i}`, `r${round}-${i}`, round - 1)).then(() =>
            acked.set(`/k${i}`, `r${round}-${i}`),
          ),
        ),
      );
    }
    for (let i = 0; i < 10; i++) {
      await client.delete(`/k${i}`, 2);
      acked.delete(`/k${i}`);
    }
    await client.close();
    const before = await Promise.all(addrs.map(statusOf));
    const snapshots = (i: number): string[] => fs.readdirSync(path.join(dataDir, `server.${i}`)).filter((f) => f.startsWith('snapshot.'));
    await waitUntil('snapshots on every server', () => [1, 2, 3].every((i) => snapshots(i).length > 0), 10_000);

    // Crash everything at once: the servers first, then the ensemble process.
    for (const s of before) process.kill(s.pid, 'SIGKILL');
    ens.proc.kill('SIGKILL');
    await ens.exited;

    const again = startEnsemble(dataDir, base, 3);
    procs.push(again);
    await again.waitForOutput(/ensemble ready/, 25_000);
    const keys = Array.from({ length: 100 }, (_, i) => `/k${i}`);
    for (const addr of addrs) {
      const seen = await readAll(addr, keys);
      for (const k of keys) expect(seen.get(k), `${k} on ${addr}`).toBe(acked.get(k) ?? null);
    }
    const after = await Promise.all(addrs.map(statusOf));
    for (const s of after) expect(BigInt(s.lastApplied) >= BigInt(before[0]!.lastApplied)).toBe(true);
    expect(Math.max(...after.map((s) => s.epoch))).toBeGreaterThan(Math.max(...before.map((s) => s.epoch)));
    expect((await again.terminate()).code).toBe(0);
  });
});
