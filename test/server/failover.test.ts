/**
 * kill -9 the leader of a 3-server ensemble while a client writes continuously: a new leader is
 * elected, writes continue, and every acknowledged write is on every server afterwards (the killed
 * server too, once restarted), with lastApplied converging.
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
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-failover-'));
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('leader crash', () => {
  it('kill -9 of the leader: a new leader is elected, writes continue, no acknowledged write is lost', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    const ens = startEnsemble(dataDir, base, 3, ['--keep-going']);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/);
    const addrs = [1, 2, 3].map((i) => clientAddr(base, i));
    const before = await Promise.all(addrs.map(statusOf));
    const oldLeader = before.find((s) => s.role === 'leading')!;
    expect(oldLeader).toBeDefined();

    // Writers: 4 loops of sequential creates through a failover client over all servers.
    const acked = new Map<string, string>();
    let failed = 0;
    let ackedAfterKill = 0;
    let killed = false;
    let stop = false;
    const client = new ZabClient({ servers: addrs.join(','), requestTimeoutMs: 10_000 });
    const loops = [0, 1, 2, 3].map(async (w) => {
      for (let n = 0; !stop; n++) {
        const key = `/w${w}-${n}`;
        try {
          await client.create(key, `v${n}`);
          acked.set(key, `v${n}`);
          if (killed) ackedAfterKill++;
        } catch {
          failed++; // outcome unknown (or timed out): not counted as acknowledged
        }
      }
    });

    await waitUntil('200 acknowledged writes', () => acked.size >= 200);
    process.kill(oldLeader.pid, 'SIGKILL');
    killed = true;
    const survivors = addrs.filter((_, i) => i + 1 !== oldLeader.serverId);

    const newLeader = await waitUntil('a new leader', async () => {
      const s = await Promise.all(survivors.map(statusOf));
      return s.find((x) => x.role === 'leading' && x.phase === 'broadcast' && x.epoch > oldLeader.epoch);
    });
    expect(newLeader.serverId).not.toBe(oldLeader.serverId);
    await waitUntil('200 writes acknowledged after the crash', () => ackedAfterKill >= 200, 25_000);
    stop = true;
    await Promise.all(loops);
    await client.close();
    expect(ens.stdout).toMatch(new RegExp(`server ${oldLeader.serverId}: died \\(was killed by SIGKILL\\)`));

    // Every acknowledged write is on both survivors.
    const keys = [...acked.keys()];
    for (const addr of survivors) {
      const seen = await readAll(addr, keys);
      const missing = keys.filter((k) => seen.get(k) !== acked.get(k));
      expect(missing, `on ${addr}`).toEqual([]);
    }

    // The killed server comes back (same data dir), catches up and holds them too.
    const restarted = new ZabProc(['server', '--config', path.join(dataDir, `server.${oldLeader.serverId}`, 'zoo.cfg')], tmp);
    procs.push(restarted);
    await waitUntil(
      'the old leader to rejoin',
      async () => {
        if (restarted.proc.exitCode !== null) throw new Error(`restarted server exited ${restarted.proc.exitCode}: ${restarted.stderr.slice(-2000)}`);
        return (await statusOf(addrs[oldLeader.serverId - 1]!)).phase === 'broadcast';
      },
      20_000,
    );
    const seen = await readAll(addrs[oldLeader.serverId - 1]!, keys);
    expect(keys.filter((k) => seen.get(k) !== acked.get(k))).toEqual([]);
    const applied = await waitUntil('lastApplied to converge on all three', async () => {
      const s = await Promise.all(addrs.map(statusOf));
      return new Set(s.map((x) => x.lastApplied)).size === 1 ? s[0]!.lastApplied : undefined;
    });
    expect(BigInt(applied) >> 32n).toBe(BigInt(newLeader.epoch));
    console.log(`acked ${acked.size} (${ackedAfterKill} after the crash), unknown outcome ${failed}, new leader ${newLeader.serverId} epoch ${newLeader.epoch}`);

    expect((await restarted.terminate()).code).toBe(0);
    // --keep-going: a server died, so the ensemble exits non-zero when stopped.
    expect((await ens.terminate()).code).toBe(3);
  });
});
