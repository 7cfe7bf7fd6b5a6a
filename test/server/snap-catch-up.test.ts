/**
 * A follower that fell far behind comes back by SNAP without disturbing the ensemble: the leader
 * writes the learner's snapshot in slices and the follower restores it in slices (the log lines say
 * how many), pings keep both sides alive meanwhile, the leader keeps its epoch, and the follower ends
 * with the same state as the others. tickTime 100 makes initLimit 1 s and syncLimit 0.5 s; snapCount
 * 100 and 256 KiB log segments let the others purge their logs below the frozen follower.
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
const frozen: number[] = [];

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-snap-'));
}, 180_000);

afterAll(async () => {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The JSON lines of a server's log whose msg is `msg`. */
function logged(dataDir: string, sid: number, msg: string): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(dataDir, `server.${sid}`, 'server.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes(msg))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.msg === msg);
}

describe('catch-up by SNAP', () => {
  it('a follower that missed 40,000 creates (log purged) is brought back by a sliced SNAP; the leader keeps its epoch', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    const ens = startEnsemble(dataDir, base, 3, ['--tick-time', '100', '--snap-count', '100', '--log-segment-bytes', String(256 * 1024)]);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/);
    const addrs = [1, 2, 3].map((i) => clientAddr(base, i));
    const initial = await Promise.all(addrs.map(statusOf));
    const leader = initial.find((s) => s.role === 'leading')!;
    const behind = initial.find((s) => s.role === 'following')!;
    const other = initial.find((s) => s.role === 'following' && s.serverId !== behind.serverId)!;

    // Frozen, the follower misses everything; the others snapshot and purge the log below it.
    process.kill(behind.pid, 'SIGSTOP');
    frozen.push(behind.pid);
    const client = new ZabClient({ servers: [addrs[leader.serverId - 1], addrs[other.serverId - 1]].join(','), requestTimeoutMs: 20_000 });
    const dirs = 20;
    const perDir = 2000;
    try {
      await client.multi(Array.from({ length: dirs }, (_, d) => ({ op: 'create' as const, path: `/d${d}`, data: new Uint8Array(0) })));
      for (let d = 0; d < dirs; d++) {
        const batches = [];
        for (let i = 0; i < perDir; i += 100) {
          batches.push(client.multi(Array.from({ length: 100 }, (_, j) => ({ op: 'create' as const, path: `/d${d}/n${i + j}`, data: new TextEncoder().encode(`v${d}-${i + j}-`.padEnd(100, 'x')) }))));
        }
        await Promise.all(batches);
      }
      await client.setData('/d7/n77', 'last');
    } finally {
      await client.close();
    }
    process.kill(behind.pid, 'SIGCONT');
    frozen.length = 0;

    const final = await waitUntil(
      'the follower to catch up (same lastApplied and znode count everywhere, all in broadcast)',
      async () => {
        const s = await Promise.all(addrs.map((a) => statusOf(a).catch(() => null)));
        if (s.some((x) => x === null)) return undefined;
        const all = s as NonNullable<(typeof s)[number]>[];
        const same = new Set(all.map((x) => `${x.lastApplied}/${x.znodes}`)).size === 1;
        return same && all.every((x) => x.phase === 'broadcast') ? all : undefined;
      },
      90_000,
      200,
    );
    expect(final[0]!.znodes).toBe(1 + dirs + dirs * perDir);
    // One leader all along: the SNAP did not cost it its quorum.
    const leaderNow = final.find((s) => s.role === 'leading')!;
    expect(leaderNow.serverId).toBe(leader.serverId);
    expect(leaderNow.epoch).toBe(leader.epoch);
    for (const s of final) expect(alive(s.pid)).toBe(true);

    const sent = logged(dataDir, leader.serverId, 'snapshot for learner written');
    const restored = logged(dataDir, behind.serverId, 'snapshot from the leader restored');
    expect(sent.length, 'the leader sent a SNAP').toBeGreaterThanOrEqual(1);
    expect(restored.length, 'the follower restored it').toBeGreaterThanOrEqual(1);
    expect(Math.max(...sent.map((r) => Number(r.slices))), 'the snapshot was written in slices').toBeGreaterThan(1);
    expect(Math.max(...restored.map((r) => Number(r.slices))), 'and restored in slices').toBeGreaterThan(1);

    const sample = ['/d0/n0', '/d7/n77', `/d${dirs - 1}/n${perDir - 1}`, '/d3/n1234'];
    const expected = await readAll(addrs[leader.serverId - 1]!, sample);
    expect(expected.get('/d7/n77')).toBe('last');
    expect(await readAll(addrs[behind.serverId - 1]!, sample)).toEqual(expected);
    for (let i = 1; i <= 3; i++) expect(badLogLines(path.join(dataDir, `server.${i}`, 'server.log')), `server ${i}`).toEqual([]);
    console.log(`SNAP: leader ${JSON.stringify(sent.map((r) => ({ bytes: r.bytes, slices: r.slices, ms: r.ms })))}, follower ${JSON.stringify(restored.map((r) => ({ slices: r.slices, ms: r.ms })))}`);
  }, 150_000);
});
