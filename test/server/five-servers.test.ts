/**
 * A 5-server ensemble: kill -9 two followers while a client writes, writes continue on the remaining
 * quorum of 3; restart the two from their zoo.cfg: they catch up, and every server ends with the same
 * history (every acknowledged znode with its data, equal lastApplied and znode count).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZabClient } from '../../src/client/client.js';
import { clientAddr, ensureBuilt, freeBasePort, readAll, startEnsemble, statusOf, waitUntil, ZabProc } from './helpers.js';
import { badLogLines } from './log-check.js';

let tmp = '';
const procs: ZabProc[] = [];

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-five-'));
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('five servers', () => {
  it('two followers killed while writing: the quorum of three goes on; restarted, they catch up to an identical state', async () => {
    const N = 5;
    const base = await freeBasePort(N);
    const dataDir = path.join(tmp, 'data');
    const ens = startEnsemble(dataDir, base, N, ['--keep-going']);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/, 30_000);
    const ids = [1, 2, 3, 4, 5];
    const addrs = ids.map((i) => clientAddr(base, i));
    const initial = await Promise.all(addrs.map(statusOf));
    const leader = initial.find((s) => s.role === 'leading')!;
    expect(leader).toBeDefined();
    const victims = initial.filter((s) => s.role === 'following').slice(0, 2);
    expect(victims).toHaveLength(2);
    const victimIds = new Set(victims.map((v) => v.serverId));

    const acked = new Map<string, string>();
    let killed = false;
    let ackedAfterKill = 0;
    let stop = false;
    // The writer talks only to the servers that stay up, so its own failover is not what is tested.
    const client = new ZabClient({ servers: addrs.filter((_, i) => !victimIds.has(i + 1)).join(','), requestTimeoutMs: 10_000 });
    const loops = [0, 1, 2, 3].map(async (w) => {
      for (let n = 0; !stop; n++) {
        const key = `/f${w}-${n}`;
        try {
          await client.create(key, `v${w}-${n}`);
          acked.set(key, `v${w}-${n}`);
          if (killed) ackedAfterKill++;
        } catch {
          // unknown outcome: not acknowledged
        }
      }
    });

    try {
      await waitUntil('200 acknowledged writes', () => acked.size >= 200);
      for (const v of victims) process.kill(v.pid, 'SIGKILL');
      killed = true;
      for (const v of victims) await ens.waitForOutput(new RegExp(`server ${v.serverId}: died`));
      await waitUntil('300 writes acknowledged by the remaining three', () => ackedAfterKill >= 300, 25_000);
      // The leader kept its role: 3 of 5 is still a quorum.
      expect((await statusOf(addrs[leader.serverId - 1]!)).role).toBe('leading');

      for (const v of victims) {
        procs.push(new ZabProc(['server', '--config', path.join(dataDir, `server.${v.serverId}`, 'zoo.cfg')], tmp));
      }
      await waitUntil(
        'the restarted followers to rejoin',
        async () => {
          const s = await Promise.all(victims.map((v) => statusOf(addrs[v.serverId - 1]!)));
          return s.every((x) => x.role === 'following' && x.phase === 'broadcast');
        },
        20_000,
      );
      const target = acked.size + 200;
      await waitUntil('200 more writes with all five up', () => acked.size >= target);
    } finally {
      stop = true;
      await Promise.all(loops);
      await client.close();
    }

    const keys = [...acked.keys()];
    for (const addr of addrs) {
      const seen = await readAll(addr, keys);
      expect(keys.filter((k) => seen.get(k) !== acked.get(k)), `on ${addr}`).toEqual([]);
    }
    const final = await waitUntil('lastApplied and znode count to be equal on all five', async () => {
      const s = await Promise.all(addrs.map(statusOf));
      return new Set(s.map((x) => `${x.lastApplied}/${x.znodes}`)).size === 1 ? s : undefined;
    });
    expect(final[0]!.znodes).toBeGreaterThanOrEqual(keys.length + 1);
    for (const i of ids) expect(badLogLines(path.join(dataDir, `server.${i}`, 'server.log')), `server ${i}`).toEqual([]);
    console.log(`acked ${acked.size} (${ackedAfterKill} while two were down), lastApplied ${final[0]!.lastApplied}, znodes ${final[0]!.znodes}`);
    for (const p of procs.slice(1)) expect((await p.terminate()).code).toBe(0);
    expect((await ens.terminate()).code).toBe(3); // two servers died: exit 3 with --keep-going
  });
});
