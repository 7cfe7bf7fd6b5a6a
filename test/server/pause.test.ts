/**
 * Frozen processes (SIGSTOP/SIGCONT) in a 3-server ensemble with a small tickTime, while a client
 * writes continuously (many distinct znodes):
 *  1. a follower is frozen for a few seconds, then resumed: the leader keeps its quorum, writes go on,
 *     the follower rejoins;
 *  2. the leader is frozen until the followers give up on it (syncLimit x tickTime): they elect a new
 *     leader and writes go on; the old leader is resumed, must step down, rejoin as a follower and
 *     converge.
 * Afterwards every acknowledged write is on every server, lastApplied and the znode count are equal
 * everywhere, no server exited, and no server logged a fatal error or an invariant breach.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZabClient } from '../../src/client/client.js';
import { alive, clientAddr, ensureBuilt, freeBasePort, readAll, startEnsemble, statusOf, waitUntil, ZabProc } from './helpers.js';
import { badLogLines } from './log-check.js';

let tmp = '';
const procs: ZabProc[] = [];
/** server pids: resumed before cleanup, so a frozen server can handle SIGTERM */
const serverPids: number[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function resumeAll(): void {
  for (const pid of serverPids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
}

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-pause-'));
}, 180_000);

afterAll(async () => {
  resumeAll();
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('frozen servers (SIGSTOP/SIGCONT)', () => {
  it('a frozen follower and then a frozen leader: writes continue, the old leader rejoins, every acknowledged write is everywhere', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    // tickTime 100: syncLimit (5 ticks) expires after 0.5 s, so a frozen leader is given up quickly.
    const ens = startEnsemble(dataDir, base, 3, ['--tick-time', '100', '--keep-going']);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/);
    const addrs = [1, 2, 3].map((i) => clientAddr(base, i));
    const initial = await Promise.all(addrs.map(statusOf));
    serverPids.push(...initial.map((s) => s.pid));
    const leader0 = initial.find((s) => s.role === 'leading')!;
    const follower0 = initial.find((s) => s.role === 'following')!;
    expect(leader0).toBeDefined();
    expect(follower0).toBeDefined();

    // Writers: 4 loops of sequential creates of distinct znodes through one failover client. A short
    // request timeout makes the client leave a frozen server (the outcome of that request is unknown).
    const acked = new Map<string, string>();
    let unknown = 0;
    let stop = false;
    const client = new ZabClient({ servers: addrs.join(','), requestTimeoutMs: 2000, backoffMaxMs: 200 });
    const loops = [0, 1, 2, 3].map(async (w) => {
      for (let n = 0; !stop; n++) {
        const key = `/p${w}-${n}`;
        try {
          await client.create(key, `v${w}-${n}`);
          acked.set(key, `v${w}-${n}`);
        } catch {
          unknown++; // timed out or ConnectionLoss: not acknowledged
          await sleep(20);
        }
      }
    });
    const moreAcked = async (what: string, n: number, ms = 20_000): Promise<void> => {
      const target = acked.size + n;
      await waitUntil(`${n} more acknowledged writes ${what} (have ${acked.size})`, () => acked.size >= target, ms);
    };

    try {
      await moreAcked('to start', 100);

      // 1. Freeze a follower for 3 s: the leader and the other follower are still a quorum.
      process.kill(follower0.pid, 'SIGSTOP');
      await sleep(3000);
      const duringFollowerPause = acked.size;
      process.kill(follower0.pid, 'SIGCONT');
      await moreAcked('after the follower was resumed', 100);
      expect(acked.size).toBeGreaterThan(duringFollowerPause);
      await waitUntil('the resumed follower to serve again', async () => {
        const s = await statusOf(addrs[follower0.serverId - 1]!);
        return s.role === 'following' && s.phase === 'broadcast';
      });

      // 2. Freeze the leader until the followers elect a new one.
      const before = await Promise.all(addrs.map(statusOf));
      const leader1 = before.find((s) => s.role === 'leading' && s.phase === 'broadcast')!;
      expect(leader1).toBeDefined();
      process.kill(leader1.pid, 'SIGSTOP');
      const others = addrs.filter((_, i) => i + 1 !== leader1.serverId);
      const leader2 = await waitUntil(
        'a new leader while the old one is frozen',
        async () => {
          const s = await Promise.all(others.map((a) => statusOf(a).catch(() => null)));
          return s.find((x) => x !== null && x.role === 'leading' && x.phase === 'broadcast' && x.epoch > leader1.epoch) ?? undefined;
        },
        20_000,
      );
      expect(leader2.serverId).not.toBe(leader1.serverId);
      await moreAcked('under the new leader', 100);

      // Resume the old leader: it must notice it lost its quorum, step down and follow the new leader.
      process.kill(leader1.pid, 'SIGCONT');
      await waitUntil('the old leader to rejoin as a follower', async () => {
        const s = await statusOf(addrs[leader1.serverId - 1]!);
        return s.role === 'following' && s.phase === 'broadcast' && s.leader === leader2.serverId;
      });
      await moreAcked('after the old leader rejoined', 50);
    } finally {
      resumeAll();
      stop = true;
      await Promise.all(loops);
      await client.close();
    }

    // Every acknowledged write is on every server (read after a sync on that server).
    const keys = [...acked.keys()];
    for (const addr of addrs) {
      const seen = await readAll(addr, keys);
      const wrong = keys.filter((k) => seen.get(k) !== acked.get(k));
      expect(wrong, `acknowledged writes missing or different on ${addr}`).toEqual([]);
    }
    const final = await waitUntil('lastApplied and the znode count to converge', async () => {
      const s = await Promise.all(addrs.map(statusOf));
      const same = new Set(s.map((x) => `${x.lastApplied}/${x.znodes}`)).size === 1;
      return same && s.every((x) => x.phase === 'broadcast') ? s : undefined;
    });
    expect(new Set(final.map((s) => s.pid))).toEqual(new Set(initial.map((s) => s.pid))); // no server was restarted
    for (const pid of serverPids) expect(alive(pid)).toBe(true);
    expect(ens.stdout).not.toMatch(/died/);
    for (let i = 1; i <= 3; i++) expect(badLogLines(path.join(dataDir, `server.${i}`, 'server.log')), `server ${i}`).toEqual([]);
    console.log(`acked ${acked.size}, unknown outcome ${unknown}, leaders ${leader0.serverId} -> ${final.find((s) => s.role === 'leading')?.serverId}, lastApplied ${final[0]!.lastApplied}`);

    expect((await ens.terminate()).code).toBe(0);
  });
});
