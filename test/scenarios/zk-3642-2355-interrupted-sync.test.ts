/**
 * ZOOKEEPER-3642: the leader crashes between SNAP and NEWLEADER; the follower must not keep or serve
 * a half-synced state (it claims only what it durably holds, does not advance its epoch, does not
 * serve, and syncs again).
 * ZOOKEEPER-2355: a failure in the middle of a DIFF; the follower must not record the DIFF's target
 * zxid as processed: what it logs, votes with and reports in FOLLOWERINFO is what it really has.
 */
import { describe, expect, it } from 'vitest';
import { historyContains } from '../../machines/sync-plan.js';
import { RequestRejected, type Committed } from '../../src/runtime/node.js';
import { epochOf, makeZxid, type Zxid } from '../../src/zxid.js';
import {
  disk,
  durableLast,
  durableZxids,
  followerContext,
  followerInSync,
  followerPhase,
  formatZxid,
  others,
  peerFacts,
  peerState,
  put,
  putRetry,
  qm,
  recoverAndCheck,
  scenario,
  settle,
  startAndElect,
  stepUntil,
  track,
  txnAt,
  type Scenario,
} from './helpers.js';

// ------------------------------------------------------------------ ZOOKEEPER-3642

interface SnapSetup {
  s: Scenario;
  leader: number;
  other: number;
  fresh: number;
}

/**
 * Epoch 1 commits writes. Its leader crashes; the other two elect epoch 2, whose leader `fresh` is
 * cut off, logs a write nobody else gets, and crashes. Epoch 3 (the other two) commits more. When
 * `fresh` returns, its last zxid (2,1) belongs to an epoch the leader has no record of, so it must
 * be synced by SNAP. It is stopped right after the snapshot arrived, before NEWLEADER.
 */
async function snapInterrupted(seed: number, cutInsteadOfCrash: boolean): Promise<SnapSetup> {
  const s = scenario(seed);
  const { c } = s;
  const l1 = await startAndElect(c);
  for (let i = 0; i < 3; i++) await put(c, l1, `k${i}`, 'e1');
  c.crashServer(l1);
  await c.runUntil(() => c.leader() !== null, 10_000);
  const fresh = c.leader()!;
  const other = others(c, l1, fresh)[0]!;
  c.net.partition([[fresh], [l1, other]]);
  const lost = track(c.submit(fresh, { op: 'put', key: 'stale', value: 'e2' }, 'stale'));
  await c.runUntil(() => durableZxids(c, fresh).includes(makeZxid(2, 1)), 1000, 1);
  c.crashServer(fresh);
  await c.runFor(1);
  expect(lost.get()?.ok).toBe(false);
  c.net.heal();
  await c.startServer(l1);
  await c.runUntil(() => c.leader() !== null, 10_000);
  const leader = c.leader()!;
  await put(c, leader, 'k3', 'e3');
  await put(c, leader, 'k4', 'e3');
  expect(epochOf(c.checker.committedZxid())).toBe(3);

  disk(c, fresh).setSlow(true); // keeps the snapshot install in flight
  const restartAt = c.scheduler.now();
  await c.startServer(fresh);
  await stepUntil(
    c,
    () => followerPhase(c, fresh) === 'synchronization.receiving' && (followerContext(c, fresh)?.storagePending ?? 0) > 0,
    'snapshot received, NEWLEADER not yet',
  );
  expect(s.trace.received(fresh, 'SNAP')).toHaveLength(1);
  expect(s.trace.received(fresh, 'NEWLEADER').filter((m) => m.t >= restartAt)).toHaveLength(0);
  if (cutInsteadOfCrash) c.net.cut(leader, fresh);
  else c.crashServer(leader);
  return { s, leader, other: leader === l1 ? other : l1, fresh };
}

describe('ZOOKEEPER-3642: leader lost between SNAP and NEWLEADER', () => {
  it('the follower does not serve the half-synced state, keeps its old epoch, and resyncs with a new leader', async () => {
    const { s, leader, other, fresh } = await snapInterrupted(5, false);
    const { c, trace } = s;
    const snapZxid = BigInt(trace.received(fresh, 'SNAP')[0]!.msg.zxid as string);
    expect(snapZxid).toBe(c.checker.committedZxid()); // the snapshot is the leader's committed state

    // Not serving: a client of the half-synced server gets an error, not a stale or partial answer.
    const r = await settle(c, c.submit(fresh, { op: 'put', key: 'half', value: 'synced' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toBeInstanceOf(RequestRejected);
    expect(c.node(fresh)!.getStatus().phase).not.toBe('broadcast');
    // Never acked NEWLEADER: currentEpoch did not move to the interrupted leader's epoch.
    expect(disk(c, fresh).durableEpochs().currentEpoch).toBe(2);

    await c.runUntil(() => c.leader() !== null, 10_000);
    expect(c.leader()).toBe(other);
    disk(c, fresh).setSlow(false);
    await recoverAndCheck(c);
    const w = await putRetry(c, 'after', 'snap');
    expect(epochOf(w.zxid)).toBe(4);
    await recoverAndCheck(c);
    for (const sid of c.up()) {
      expect(c.app(sid)!.get('k4')?.value).toBe('e3');
      expect(c.app(sid)!.get('stale')).toBeUndefined();
    }
    expect(c.up()).toContain(leader);
  });

  it('the follower crashing too, with the snapshot install in flight: restarts empty and is SNAPed again', async () => {
    const { s, fresh } = await snapInterrupted(5, false);
    const { c, trace } = s;
    c.crashServer(fresh);
    expect(disk(c, fresh).durableSnapshots()).toEqual([]); // the install never became durable
    expect(durableZxids(c, fresh)).toContain(makeZxid(2, 1));
    disk(c, fresh).setSlow(false);
    await recoverAndCheck(c);
    expect(trace.received(fresh, 'SNAP')).toHaveLength(2);
    await putRetry(c, 'after', 'snap');
    await recoverAndCheck(c);
  });

  it('the follower restarting from a durable snapshot of an interrupted SNAP claims exactly the snapshot and resyncs', async () => {
    const { s, leader, fresh } = await snapInterrupted(5, true);
    const { c, trace } = s;
    const snapZxid = BigInt(trace.received(fresh, 'SNAP')[0]!.msg.zxid as string);
    // Crash as soon as the snapshot is durable: the old log (with the superseded (2,1)) is not yet dropped.
    await stepUntil(c, () => disk(c, fresh).durableSnapshots().length === 1, 'snapshot durable');
    c.crashServer(fresh);
    expect(disk(c, fresh).durableSnapshots()).toEqual([{ zxid: snapZxid }]);
    expect(durableZxids(c, fresh)).toContain(makeZxid(2, 1));
    expect(disk(c, fresh).durableEpochs().currentEpoch).toBe(2);
    disk(c, fresh).setSlow(false);
    const restartAt = c.scheduler.now();
    // The checker's Restore invariant: a restart position must be a committed position.
    await c.startServer(fresh);
    expect(peerFacts(c, fresh)!.lastLogged).toBe(snapZxid);
    await c.runUntil(() => c.isConverged(), 10_000);
    const infos = trace.received(c.leader()!, 'FOLLOWERINFO').filter((m) => m.from === fresh && m.t >= restartAt);
    expect(infos.length).toBeGreaterThan(0);
    expect(infos[0]!.msg.lastZxid).toBe(formatZxid(snapZxid));
    expect(c.leader()).toBe(leader);
    await put(c, fresh, 'after', 'snap');
    await recoverAndCheck(c);
  });

  it('a server restarted from that snapshot must not claim the superseded txns of its old log in its history', async () => {
    const { s, fresh } = await snapInterrupted(5, true);
    const { c, trace } = s;
    const snapZxid = BigInt(trace.received(fresh, 'SNAP')[0]!.msg.zxid as string);
    await stepUntil(c, () => disk(c, fresh).durableSnapshots().length === 1, 'snapshot durable');
    c.crashServer(fresh); // between "snapshot saved" and "old log dropped"
    expect(durableZxids(c, fresh)).toContain(makeZxid(2, 1));
    disk(c, fresh).setSlow(false);
    await c.startServer(fresh);
    const facts = peerFacts(c, fresh)!;
    expect(facts.lastLogged).toBe(snapZxid);
    // The history a leader plans DIFFs from: (2,1) was superseded (never committed, under the
    // snapshot); claiming it would let this server, as leader, DIFF a learner at (1,3) from its log,
    // streaming the superseded (2,1) as a committed txn.
    expect(historyContains(facts.history, makeZxid(2, 1))).toBe(false);
    expect(facts.history.base >= snapZxid || facts.history.ranges.every((r) => r.epoch !== 2)).toBe(true);
  });
});

// ------------------------------------------------------------------ ZOOKEEPER-2355

describe('ZOOKEEPER-2355: failure in the middle of a DIFF', () => {
  it('machine level: a follower that loses its leader mid-DIFF never takes the DIFF target as logged or delivered', () => {
    const h = followerInSync(makeZxid(1, 5), 1, 2);
    const target = makeZxid(1, 10);
    h.send(qm(1, { type: 'DIFF', zxid: target }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(1, 6), txnAt(1, 7)] }));
    h.send(qm(1, { type: 'COMMIT', zxid: makeZxid(1, 7) }));
    h.send({ type: 'LOG_SYNCED', zxid: makeZxid(1, 7) });
    const ctx = h.actor.getSnapshot().context;
    expect(ctx.lastLogged).toBe(makeZxid(1, 7));
    expect(ctx.lastReceived).toBe(makeZxid(1, 7));
    h.send({ type: 'PEER_DISCONNECTED', sid: 1 });
    expect(h.actor.getSnapshot().status).toBe('done');
    const after = h.actor.getSnapshot().context;
    expect(after.lastLogged).toBe(makeZxid(1, 7));
    expect(after.currentEpoch).toBe(1);
    for (const e of h.effects) {
      if (e.type === 'deliver') expect(e.upTo <= makeZxid(1, 7)).toBe(true);
      if (e.type === 'append') for (const t of e.txns) expect(t.zxid <= makeZxid(1, 7)).toBe(true);
      expect(e.type).not.toBe('persistCurrentEpoch');
      if (e.type === 'send') expect(e.msg.type).not.toBe('ACKNEWLEADER');
    }
  });

  interface DiffSetup {
    s: Scenario;
    leader: number;
    lagging: number;
    target: Zxid;
  }

  /** A follower misses 1200 commits (two sync batches), then is stopped between the DIFF's batches. */
  async function midDiff(seed: number): Promise<DiffSetup> {
    const s = scenario(seed);
    const { c } = s;
    const leader = await startAndElect(c);
    const lagging = others(c, leader)[0]!;
    await put(c, leader, 'first', 'x');
    c.crashServer(lagging);
    const acks: ReturnType<typeof track<Committed>>[] = [];
    for (let i = 0; i < 1200; i++) acks.push(track(c.submit(leader, { op: 'put', key: `k${i % 16}`, value: `v${i}` }, `w${i}`)));
    await c.runUntil(() => acks.every((a) => a.get()?.ok === true), 20_000, 5);
    const target = c.checker.committedZxid();

    disk(c, lagging).setSlow(true);
    const restartAt = c.scheduler.now();
    await c.startServer(lagging);
    await stepUntil(
      c,
      () => {
        const f = followerContext(c, lagging);
        return f !== null && followerPhase(c, lagging) === 'synchronization.receiving' && f.lastReceived > makeZxid(1, 2) && f.lastReceived < target;
      },
      'first DIFF batch received',
    );
    const diff = s.trace.received(lagging, 'DIFF').filter((m) => m.t >= restartAt);
    expect(diff).toHaveLength(1);
    expect(diff[0]!.msg.zxid).toBe(formatZxid(target));
    expect(s.trace.received(lagging, 'NEWLEADER').filter((m) => m.t >= restartAt)).toHaveLength(0);
    return { s, leader, lagging, target };
  }

  it('leader crash mid-DIFF: the follower votes with what it logged, not with the DIFF target', async () => {
    const { s, leader, lagging, target } = await midDiff(3);
    const { c, trace } = s;
    const crashedAt = c.scheduler.now();
    c.crashServer(leader);
    // It leaves the dead leader, settles its storage and votes again.
    await stepUntil(c, () => peerState(c, lagging) === 'looking', 'lagging follower looking');
    const logged = durableLast(c, lagging);
    expect(logged < target).toBe(true);
    expect(logged >= makeZxid(1, 2)).toBe(true); // it did keep the part of the DIFF it had logged
    // the facts it carries out of the role, and every vote it sends, name its log, never the target
    expect(peerFacts(c, lagging)!.lastLogged).toBe(logged);
    await c.runUntil(() => c.leader() !== null, 10_000);
    const votes = trace.notificationsFrom(lagging).filter((n) => n.t > crashedAt);
    expect(votes.length).toBeGreaterThan(0);
    for (const v of votes) expect(v.zxid).toBe(formatZxid(logged));
    disk(c, lagging).setSlow(false);
    await putRetry(c, 'after', 'diff');
    await recoverAndCheck(c);
    for (const sid of c.up()) expect(c.app(sid)!.lastApplied() > target).toBe(true);
  });

  it('follower crash mid-DIFF: after restart its FOLLOWERINFO reports its durable log, and it is synced from there', async () => {
    const { s, leader, lagging, target } = await midDiff(3);
    const { c, trace } = s;
    c.crashServer(lagging);
    const logged = durableLast(c, lagging);
    expect(logged < target).toBe(true);
    disk(c, lagging).setSlow(false);
    const restartAt = c.scheduler.now();
    await c.startServer(lagging);
    await c.runUntil(() => c.isConverged(), 10_000);
    const infos = trace.received(leader, 'FOLLOWERINFO').filter((m) => m.from === lagging && m.t >= restartAt);
    expect(infos.length).toBeGreaterThan(0);
    expect(infos[0]!.msg.lastZxid).toBe(formatZxid(logged));
    const diffs = trace.received(lagging, 'DIFF').filter((m) => m.t >= restartAt);
    expect(diffs).toHaveLength(1);
    expect(BigInt(diffs[0]!.msg.zxid as string) >= target).toBe(true);
    await put(c, lagging, 'after', 'diff');
    await recoverAndCheck(c);
  });
});
