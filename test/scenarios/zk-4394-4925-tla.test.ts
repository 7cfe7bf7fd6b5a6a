/**
 * ZOOKEEPER-4394: DIFF / PROPOSAL / COMMIT / NEWLEADER interleaving: proposals arriving during sync
 * are logged, and applied only once committed (and durable).
 * ZOOKEEPER-4925: a proposal stream with a hole is rejected: the follower leaves the leader rather
 * than log past the gap.
 * The TLA+ model-checking findings (zookeeper-specifications/protocol-spec/issues.md):
 *  1. PROPOSE goes to followers that acked the epoch (syncing), not only those that acked NEWLEADER;
 *  2. followers tolerate a redundant PROPOSE;
 *  3. the commit sent at the end of sync (UPTODATE) carries the leader's latest committed zxid.
 */
import { describe, expect, it } from 'vitest';
import { makeZxid, type Zxid } from '../../src/zxid.js';
import { largestQuorumValue } from '../../src/quorum/commit-point.js';
import type { Effect } from '../../machines/types.js';
import {
  disk,
  durableLast,
  durableZxids,
  effectsOf,
  followerInBroadcast,
  followerInSync,
  followerPhase,
  formatZxid,
  injectFromLeader,
  leaderContext,
  leaderEstablished,
  others,
  peerState,
  put,
  QUORUM3,
  qm,
  recoverAndCheck,
  scenario,
  sentMessages,
  startAndElect,
  stepUntil,
  track,
  txnAt,
} from './helpers.js';

const z = makeZxid;

function deliveries(effects: Effect[]): Zxid[] {
  return effectsOf(effects, 'deliver').map((e) => e.upTo);
}

// ------------------------------------------------------------------ ZOOKEEPER-4394

describe('ZOOKEEPER-4394: proposals that arrive during sync', () => {
  it('machine level: logged at once, applied only when committed and durable, through NEWLEADER and UPTODATE', () => {
    const h = followerInSync(z(1, 3), 1, 2);
    h.send(qm(1, { type: 'DIFF', zxid: z(1, 5) }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(1, 4)] }));
    h.send(qm(1, { type: 'COMMIT', zxid: z(1, 4) }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(1, 5)] })); // the leader's uncommitted tail
    h.send(qm(1, { type: 'NEWLEADER', epoch: 2, zxid: z(1, 5) }));
    expect(h.states()).toContain('session.synchronization.awaitingDurableLog');
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] })); // broadcast reaches the syncing learner
    // only what was durable before the sync may be applied so far
    for (const d of deliveries(h.effects)) expect(d <= z(1, 3)).toBe(true);

    h.send({ type: 'LOG_SYNCED', zxid: z(1, 5) });
    expect(h.states()).toContain('session.synchronization.persistingCurrentEpoch');
    expect(deliveries(h.effects).at(-1)).toBe(z(1, 4)); // the committed part only, not the tail
    h.send(qm(1, { type: 'COMMIT', zxid: z(1, 5) })); // a commit before our NEWLEADER ack
    expect(deliveries(h.effects).at(-1)).toBe(z(1, 5));

    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    expect(sentMessages(h.effects, 1).map((m) => m.type)).toContain('ACKNEWLEADER');
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 2)] }));
    h.send(qm(1, { type: 'COMMIT', zxid: z(2, 1) })); // committed, but not yet durable here
    expect(deliveries(h.effects).at(-1)).toBe(z(1, 5));
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 2) });
    expect(deliveries(h.effects).at(-1)).toBe(z(2, 1)); // (2,2) durable but not committed
    expect(sentMessages(h.effects, 1)).toContainEqual({ type: 'ACK', zxid: z(2, 2) });

    h.send(qm(1, { type: 'UPTODATE', committed: z(2, 1) }));
    expect(h.states()).toContain('session.broadcast');
    expect(deliveries(h.effects).at(-1)).toBe(z(2, 1));
    h.send(qm(1, { type: 'COMMIT', zxid: z(2, 2) }));
    expect(deliveries(h.effects).at(-1)).toBe(z(2, 2));
    // deliveries only ever move forward
    const ds = deliveries(h.effects);
    for (let i = 1; i < ds.length; i++) expect(ds[i]! > ds[i - 1]!).toBe(true);
    // every proposal was logged exactly once, in order
    expect(effectsOf(h.effects, 'append').flatMap((e) => e.txns.map((t) => t.zxid))).toEqual([z(1, 4), z(1, 5), z(2, 1), z(2, 2)]);
  });

  it('cluster: a learner syncing while writes flow logs the proposals it gets during sync, applies nothing uncommitted, loses nothing', async () => {
    const { c, trace } = scenario(21);
    const leader = await startAndElect(c);
    const joiner = others(c, leader)[0]!;
    await put(c, leader, 'a', '0');
    c.crashServer(joiner);
    for (let i = 0; i < 20; i++) await put(c, leader, `k${i % 4}`, `before${i}`);

    disk(c, joiner).setSlow(true); // a slow sync: writes keep arriving meanwhile
    const restartAt = c.scheduler.now();
    await c.startServer(joiner);
    const acks: ReturnType<typeof track>[] = [];
    let n = 0;
    const noneApplyUncommitted = (): void => {
      const l = leaderContext(c, leader);
      if (!l) return;
      // A follower may learn of a commit from the leader's LEADERACK before the leader's own commit
      // point moves, but never of more than a quorum holds durably.
      const onQuorum = largestQuorumValue(new Map([1, 2, 3].map((s) => [s, durableLast(c, s)])), QUORUM3) ?? 0n;
      expect(c.app(leader)!.lastApplied() <= l.committed).toBe(true);
      for (const sid of c.up()) {
        const app = c.app(sid)!;
        // nobody applies beyond what a quorum holds durably, nor beyond what its own log holds durably
        expect(app.lastApplied() <= onQuorum).toBe(true);
        expect(app.lastApplied() <= durableLast(c, sid)).toBe(true);
      }
    };
    await stepUntil(
      c,
      () => followerPhase(c, joiner) === 'broadcast',
      'joiner synced',
      {
        each: () => {
          noneApplyUncommitted();
          if (followerPhase(c, joiner)?.startsWith('synchronization') && n < 60 && c.scheduler.now() > restartAt + n * 2) {
            acks.push(track(c.submit(leader, { op: 'put', key: `w${n % 5}`, value: `during${n}` }, `during${n}`)));
            n++;
          }
        },
      },
    );
    const during = trace
      .received(joiner)
      .filter((m) => m.t >= restartAt && (m.msg.type === 'PROPOSAL' || m.msg.type === 'COMMIT'))
      .filter((m) => JSON.stringify(m.stateBefore).includes('"synchronization":"awaiting') || JSON.stringify(m.stateBefore).includes('persisting'));
    // proposals of the broadcast reached the learner while it was still between NEWLEADER and UPTODATE
    expect(during.some((m) => m.msg.type === 'PROPOSAL')).toBe(true);
    expect(during.some((m) => m.msg.type === 'COMMIT')).toBe(true);
    disk(c, joiner).setSlow(false);
    await c.runUntil(() => acks.every((a) => a.get() !== null), 10_000);
    expect(acks.every((a) => a.get()!.ok)).toBe(true);
    await recoverAndCheck(c);
    expect(c.app(joiner)!.digest()).toBe(c.app(leader)!.digest());
  });
});

// ------------------------------------------------------------------ ZOOKEEPER-4925

describe('ZOOKEEPER-4925: a hole in the proposal stream', () => {
  it('machine level, broadcast: a PROPOSAL past a gap ends the session and is not logged', () => {
    const h = followerInBroadcast(z(1, 3), 2, [], z(1, 3));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 3)] })); // (2,2) missing
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.actor.getSnapshot().output?.reason).toMatch(/does not follow/);
    expect(effectsOf(h.effects, 'append').flatMap((e) => e.txns.map((t) => t.zxid))).toEqual([z(2, 1)]);
  });

  it('machine level, sync: gaps inside a batch, after a DIFF, and across an epoch are rejected', () => {
    const cases: { name: string; txns: ReturnType<typeof txnAt>[] }[] = [
      { name: 'gap after the DIFF start', txns: [txnAt(1, 5)] },
      { name: 'gap inside a batch', txns: [txnAt(1, 4), txnAt(1, 6)] },
      { name: 'new epoch not starting at counter 1', txns: [txnAt(2, 2)] },
    ];
    for (const k of cases) {
      const h = followerInSync(z(1, 3), 1, 2);
      h.send(qm(1, { type: 'DIFF', zxid: z(1, 9) }));
      h.send(qm(1, { type: 'PROPOSAL', txns: k.txns }));
      expect(h.actor.getSnapshot().status, k.name).toBe('done');
      expect(effectsOf(h.effects, 'append'), k.name).toEqual([]);
      expect(effectsOf(h.effects, 'persistCurrentEpoch'), k.name).toEqual([]);
    }
  });

  it('cluster: a forged PROPOSAL with a hole makes the follower leave; it never logs past the gap and rejoins', async () => {
    const { c } = scenario(13);
    const leader = await startAndElect(c);
    const victim = others(c, leader)[0]!;
    await put(c, leader, 'a', '1');
    const last = durableLast(c, victim);
    const gap = last + 2n;
    const sent = injectFromLeader(c, leader, victim, { type: 'PROPOSAL', txns: [txnAt(1, Number(gap & 0xffffffffn), 'forged')] });
    expect(sent).toBeGreaterThan(0);
    let left = false;
    await c
      .runUntil(() => (left ||= peerState(c, victim) !== 'following'), 1000, 0.5)
      .catch(() => undefined);
    expect(durableZxids(c, victim)).not.toContain(gap); // never logged past the gap
    expect(left).toBe(true); // ... and left the leader (ZOOKEEPER-4925)
    await c.runUntil(() => c.isConverged(), 10_000);
    const w = await put(c, victim, 'b', '2');
    expect(w.zxid > last).toBe(true);
    await recoverAndCheck(c);
    for (const sid of c.up()) {
      expect(durableZxids(c, sid)).not.toContain(gap === w.zxid ? -1n : gap);
      expect(c.app(sid)!.get('b')?.value).toBe('2');
    }
  });
});

// ------------------------------------------------------------------ TLA+ findings

describe('TLA+ finding 1: PROPOSE goes to learners that acked the epoch', () => {
  it('machine level: a learner whose sync was started gets every later PROPOSAL and COMMIT, contiguous with its sync', () => {
    const { h, epoch } = leaderEstablished({
      acceptedEpoch: 1,
      currentEpoch: 1,
      lastLogged: z(1, 3),
      history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] },
    });
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'r1', data: new Uint8Array([1]) }] });
    h.send({ type: 'LOG_SYNCED', zxid: z(epoch, 1) });
    h.send(qm(2, { type: 'ACK', zxid: z(epoch, 1) }));
    h.take();
    // learner 3 arrives late: acks the epoch, its sync is streamed up to (2,1)
    h.send(qm(3, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: z(1, 3), observer: false }));
    h.send(qm(3, { type: 'ACKEPOCH', currentEpoch: 1, lastZxid: z(1, 3), counted: true }));
    const sync = h.take('syncLearner');
    expect(sync).toHaveLength(1);
    expect(sync[0]).toMatchObject({ sid: 3, upTo: z(epoch, 1) });
    // a request while 3 has not acked NEWLEADER yet: it is still proposed to 3
    h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'r2', data: new Uint8Array([2]) }] });
    const props = h.take('propose');
    expect(props).toHaveLength(1);
    expect(props[0]!.to).toEqual(expect.arrayContaining([2, 3]));
    expect(props[0]!.first).toBe(sync[0]!.upTo + 1n); // no zxid between its sync and its broadcast
    h.send({ type: 'LOG_SYNCED', zxid: z(epoch, 2) });
    h.send(qm(2, { type: 'ACK', zxid: z(epoch, 2) }));
    const out = h.take('broadcast');
    const commits = out.filter((b) => b.msg.type === 'COMMIT');
    expect(commits).toHaveLength(1);
    expect(commits[0]!.to).toContain(3);
    // learner 2 is synced: the leader's LEADERACK of (epoch, 2) stands in for its COMMIT
    const covered = out.filter((b) => b.msg.type === 'LEADERACK' && b.msg.zxid >= z(epoch, 2)).flatMap((b) => b.to);
    expect([...commits[0]!.to, ...covered]).toEqual(expect.arrayContaining([2, 3]));
  });
});

describe('TLA+ finding 2: followers tolerate a redundant PROPOSE', () => {
  it('machine level, broadcast: the same PROPOSAL twice neither ends the session nor logs twice', () => {
    const h = followerInBroadcast(z(1, 3), 2, [], z(1, 3));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] }));
    expect(h.actor.getSnapshot().status).toBe('active');
    expect(h.states()).toContain('session.broadcast');
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    h.send(qm(1, { type: 'COMMIT', zxid: z(2, 1) }));
    expect(deliveries(h.effects)).toEqual([z(2, 1)]);
    const appended = effectsOf(h.effects, 'append').flatMap((e) => e.txns.map((t) => t.zxid));
    expect(appended.filter((x) => x === z(2, 1)).length).toBeLessThanOrEqual(2); // the runtime skips a re-append
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 2)] }));
    expect(h.actor.getSnapshot().status).toBe('active');
  });

  it('machine level, sync (the TLA+ trace): NEWLEADER carrying an entry, then the PROPOSE of that entry', () => {
    const h = followerInSync(z(1, 3), 1, 2);
    h.send(qm(1, { type: 'DIFF', zxid: z(2, 1) }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] }));
    h.send(qm(1, { type: 'NEWLEADER', epoch: 2, zxid: z(2, 1) }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1)] })); // redundant
    expect(h.actor.getSnapshot().status).toBe('active');
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 1) });
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    expect(sentMessages(h.effects, 1).map((m) => m.type)).toContain('ACKNEWLEADER');
  });
});

describe('TLA+ finding 3: UPTODATE carries the leader\'s latest committed zxid', () => {
  it('machine level: commits between a learner\'s sync and its NEWLEADER ack are covered by its UPTODATE', () => {
    const { h, epoch } = leaderEstablished({
      acceptedEpoch: 1,
      currentEpoch: 1,
      lastLogged: z(1, 3),
      history: { base: 0n, ranges: [{ epoch: 1, first: 1, last: 3 }] },
    });
    h.send(qm(3, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: z(1, 3), observer: false }));
    h.send(qm(3, { type: 'ACKEPOCH', currentEpoch: 1, lastZxid: z(1, 3), counted: true }));
    const sync = h.take('syncLearner');
    expect(sync[0]!.upTo).toBe(z(1, 3));
    // two writes are proposed and committed (with learner 2) before learner 3 acks NEWLEADER
    for (let i = 1; i <= 2; i++) {
      h.send({ type: 'CLIENT_REQUESTS', requests: [{ id: `r${i}`, data: new Uint8Array([i]) }] });
      h.send({ type: 'LOG_SYNCED', zxid: z(epoch, i) });
      h.send(qm(2, { type: 'ACK', zxid: z(epoch, i) }));
    }
    expect(h.actor.getSnapshot().context.committed).toBe(z(epoch, 2));
    h.take();
    h.send(qm(3, { type: 'ACKNEWLEADER', epoch }));
    const upToDate = sentMessages(h.effects, 3).filter((m) => m.type === 'UPTODATE');
    expect(upToDate).toEqual([{ type: 'UPTODATE', committed: z(epoch, 2) }]);
  });

  it('machine level, follower: UPTODATE with the latest commit applies everything committed it holds', () => {
    const h = followerInSync(z(1, 3), 1, 2);
    h.send(qm(1, { type: 'DIFF', zxid: z(1, 3) }));
    h.send(qm(1, { type: 'NEWLEADER', epoch: 2, zxid: z(1, 3) }));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 1), txnAt(2, 2)] }));
    h.send({ type: 'CURRENT_EPOCH_PERSISTED', epoch: 2 });
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 2) });
    h.send(qm(1, { type: 'UPTODATE', committed: z(2, 2) }));
    expect(deliveries(h.effects).at(-1)).toBe(z(2, 2));
    h.send(qm(1, { type: 'PROPOSAL', txns: [txnAt(2, 3)] }));
    h.send({ type: 'LOG_SYNCED', zxid: z(2, 3) });
    h.send(qm(1, { type: 'COMMIT', zxid: z(2, 3) }));
    expect(h.actor.getSnapshot().status).toBe('active');
    expect(deliveries(h.effects).at(-1)).toBe(z(2, 3));
    expect(formatZxid(z(2, 3))).toBe('0x200000003');
  });
});
