/**
 * ZOOKEEPER-1154: an old leader that returns with an uncommitted tail must be truncated (TRUNC),
 * and the tail is never delivered anywhere.
 * ZOOKEEPER-5094: the same TRUNC interrupted by a crash while the truncation is still in flight.
 */
import { describe, expect, it } from 'vitest';
import { planSync } from '../../machines/sync-plan.js';
import type { SimCluster } from '../../src/sim/cluster.js';
import { epochOf, makeZxid, type Zxid } from '../../src/zxid.js';
import {
  disk,
  durableZxids,
  followerContext,
  followerPhase,
  formatZxid,
  others,
  put,
  recoverAndCheck,
  scenario,
  track,
  startAndElect,
  stepUntil,
  type Scenario,
} from './helpers.js';

interface Stranded {
  s: Scenario;
  old: number;
  /** the old leader's uncommitted tail */
  tail: Zxid;
  /** last zxid the old epoch committed */
  lastCommitted: Zxid;
  newLeader: number;
}

/**
 * Epoch 1 commits a few writes; its leader is then cut off and logs a write nobody else receives;
 * it crashes; the rest elect epoch 2 and commit a write there. The old leader stays down.
 */
async function strandOldLeader(seed: number): Promise<Stranded> {
  const s = scenario(seed);
  const { c } = s;
  const old = await startAndElect(c);
  let lastCommitted = 0n;
  for (let i = 0; i < 3; i++) lastCommitted = (await put(c, old, `a${i}`, 'epoch1')).zxid;
  expect(epochOf(lastCommitted)).toBe(1);

  // Cut the leader off, then hand it a write: the PROPOSAL leaves on connections already broken.
  c.net.partition([[old], others(c, old)]);
  const lost = track(c.submit(old, { op: 'put', key: 'tail', value: 'never' }, 'tail'));
  const tail = lastCommitted + 1n;
  await c.runUntil(() => durableZxids(c, old).includes(tail), 1000, 1);
  c.crashServer(old);
  await c.runFor(1);
  expect(lost.get()?.ok).toBe(false); // the client hears of a failure, never of a commit
  for (const sid of others(c, old)) expect(durableZxids(c, sid)).not.toContain(tail);

  c.net.heal();
  await c.runUntil(() => c.leader() !== null && c.leader() !== old, 10_000);
  const newLeader = c.leader()!;
  const w = await put(c, newLeader, 'b', 'epoch2');
  expect(epochOf(w.zxid)).toBe(2);
  return { s, old, tail, lastCommitted, newLeader };
}

function tailNeverDelivered(c: SimCluster, tail: Zxid, lastCommitted: Zxid): void {
  // The committed sequence goes from the old epoch's last commit straight to epoch 2.
  for (const sid of c.up()) {
    expect(c.app(sid)!.get('tail')).toBeUndefined();
    expect(c.app(sid)!.get('b')?.value).toBe('epoch2');
    expect(c.app(sid)!.get('a2')?.value).toBe('epoch1');
  }
  expect(c.checker.committedZxid() > tail).toBe(true);
  expect(c.checker.positionOf(c.up()[0]!) > lastCommitted).toBe(true);
}

describe('ZOOKEEPER-1154: returning old leader with an uncommitted tail', () => {
  it('the sync plan for a learner ahead of the leader in its own epoch is TRUNC to the last shared zxid', () => {
    const h = { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }, { epoch: 2, first: 1, last: 1 }] };
    expect(planSync(h, makeZxid(1, 4))).toEqual({ mode: 'TRUNC', to: makeZxid(1, 3) });
    // a tail with no shared zxid in its own epoch cannot be TRUNCed across the epoch boundary
    expect(planSync({ base: 0n, ranges: [{ epoch: 2, first: 1, last: 5 }] }, makeZxid(1, 4))).toEqual({ mode: 'SNAP' });
  });

  it('is truncated by TRUNC when it restarts; the tail is delivered nowhere and the cluster converges', async () => {
    const { s, old, tail, lastCommitted } = await strandOldLeader(11);
    const { c, trace } = s;
    expect(durableZxids(c, old)).toContain(tail); // it comes back with the tail on disk

    await c.startServer(old);
    await c.runUntil(() => c.isConverged(), 10_000);

    const truncs = trace.received(old, 'TRUNC');
    expect(truncs).toHaveLength(1);
    expect(truncs[0]!.msg.zxid).toBe(formatZxid(lastCommitted));
    expect(trace.received(old, 'SNAP')).toHaveLength(0);
    expect(durableZxids(c, old)).not.toContain(tail);
    expect(durableZxids(c, old)).toEqual(durableZxids(c, others(c, old)[0]!));

    tailNeverDelivered(c, tail, lastCommitted);
    // and it keeps working: a write through the returned server commits everywhere
    await put(c, old, 'c', 'after');
    await recoverAndCheck(c);
    for (const sid of c.up()) expect(c.app(sid)!.get('c')?.value).toBe('after');
  });
});

describe('ZOOKEEPER-5094: TRUNC interrupted by a crash', () => {
  async function truncInFlight(seed: number): Promise<Stranded> {
    const st = await strandOldLeader(seed);
    const { c } = st.s;
    // A slow disk keeps the truncation in flight long enough to crash in the middle of it.
    disk(c, st.old).setSlow(true);
    await c.startServer(st.old);
    await stepUntil(
      c,
      () => {
        const f = followerContext(c, st.old);
        return f !== null && followerPhase(c, st.old)?.startsWith('synchronization') === true && f.storagePending > 0;
      },
      'TRUNC received, truncation in flight',
    );
    expect(st.s.trace.received(st.old, 'TRUNC')).toHaveLength(1);
    // in flight: the disk still holds the tail
    expect(durableZxids(c, st.old)).toContain(st.tail);
    return st;
  }

  it('the follower crashing mid-truncate restarts with the tail, is TRUNCed again, never delivers it', async () => {
    const st = await truncInFlight(11);
    const { c, trace } = st.s;
    c.crashServer(st.old);
    expect(durableZxids(c, st.old)).toContain(st.tail); // the truncation was lost with the crash
    disk(c, st.old).setSlow(false);
    await c.startServer(st.old);
    await c.runUntil(() => c.isConverged(), 10_000);

    const truncs = trace.received(st.old, 'TRUNC');
    expect(truncs).toHaveLength(2);
    for (const t of truncs) expect(t.msg.zxid).toBe(formatZxid(st.lastCommitted));
    expect(durableZxids(c, st.old)).not.toContain(st.tail);
    tailNeverDelivered(c, st.tail, st.lastCommitted);
    await put(c, st.old, 'c', 'after');
    await recoverAndCheck(c);
  });

  it('the leader crashing while the follower truncates: the follower settles the truncation before voting', async () => {
    const st = await truncInFlight(11);
    const { c, trace } = st.s;
    const crashedAt = c.scheduler.now();
    c.crashServer(st.newLeader);
    // The follower leaves the dead leader; its vote must name what is durable after the TRUNC.
    await c.runUntil(() => c.leader() !== null, 10_000);
    expect(durableZxids(c, st.old)).not.toContain(st.tail);
    const votes = trace.notificationsFrom(st.old).filter((n) => n.t > crashedAt);
    expect(votes.length).toBeGreaterThan(0);
    for (const v of votes) expect(BigInt(v.zxid)).toBe(st.lastCommitted);
    disk(c, st.old).setSlow(false);
    await put(c, c.leader()!, 'c', 'after');
    await recoverAndCheck(c);
    tailNeverDelivered(c, st.tail, st.lastCommitted);
    expect(trace.received(st.old, 'TRUNC').length).toBeGreaterThanOrEqual(1);
  });
});
