/**
 * ZOOKEEPER-1277: when the zxid counter reaches 0xffffffff the leader must step down and force a new
 * epoch; no write may be lost, the writes that could not be proposed fail with an error, and the
 * client can retry them in the new epoch.
 *
 * Reaching the end of the counter takes 4 billion writes, so the servers start from disks that
 * already hold epoch-1 history near its end (acceptedEpoch 0: the leader elected into epoch 1
 * continues that counter). No simulated leader proposed that history, so these runs use a checker
 * that does not demand observed proposals (every other invariant is checked).
 */
import { describe, expect, it } from 'vitest';
import { RequestRejected } from '../../src/runtime/node.js';
import { epochOf, counterOf, makeZxid, MAX_COUNTER } from '../../src/zxid.js';
import {
  effectsOf,
  kvTxn,
  leaderEstablished,
  others,
  prefillDisk,
  prefilledScenario,
  putRetry,
  recoverAndCheck,
  settle,
  startAndElect,
} from './helpers.js';

const START = 0xfffffff0;

describe('ZOOKEEPER-1277: zxid counter exhaustion', () => {
  it('machine level: the leader proposes up to counter 0xffffffff, then rejects and steps down; no zxid rolls into the next epoch', () => {
    const last = makeZxid(1, MAX_COUNTER - 2);
    const { h, epoch } = leaderEstablished({
      acceptedEpoch: 0,
      currentEpoch: 0,
      lastLogged: last,
      history: { base: last - 1n, ranges: [{ epoch: 1, first: MAX_COUNTER - 2, last: MAX_COUNTER - 2 }] },
    });
    expect(epoch).toBe(1);
    // a batch that would straddle the end is not proposed at all
    h.send({ type: 'CLIENT_REQUESTS', requests: [1, 2, 3].map((i) => ({ id: `big${i}`, data: new Uint8Array([i]) })) });
    expect(effectsOf(h.effects, 'propose')).toEqual([]);
    const rejected = effectsOf(h.effects, 'rejectRequests');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.ids).toEqual(['big1', 'big2', 'big3']);
    expect(rejected[0]!.reason).toMatch(/counter exhausted/);
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.actor.getSnapshot().output?.reason).toMatch(/ZOOKEEPER-1277/);

    const again = leaderEstablished({
      acceptedEpoch: 0,
      currentEpoch: 0,
      lastLogged: last,
      history: { base: last - 1n, ranges: [{ epoch: 1, first: MAX_COUNTER - 2, last: MAX_COUNTER - 2 }] },
    }).h;
    again.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'a', data: new Uint8Array([1]) }, { id: 'b', data: new Uint8Array([2]) }] });
    const p = effectsOf(again.effects, 'propose');
    expect(p).toHaveLength(1);
    expect(p[0]!.first).toBe(makeZxid(1, MAX_COUNTER - 1)); // ... (1, 0xffffffff) is the last one
    expect(again.actor.getSnapshot().status).toBe('active');
    again.send({ type: 'CLIENT_REQUESTS', requests: [{ id: 'c', data: new Uint8Array([3]) }] });
    expect(effectsOf(again.effects, 'propose')).toHaveLength(1);
    expect(effectsOf(again.effects, 'rejectRequests').flatMap((e) => e.ids)).toEqual(['c']);
    expect(again.actor.getSnapshot().status).toBe('done');
  });

  it('cluster: the leader uses the counter up, steps down, a new epoch is elected, nothing acked is lost, rejected writes succeed on retry', async () => {
    const { c } = prefilledScenario(17);
    const history = [kvTxn(makeZxid(1, START), { op: 'set', key: 'old', value: 'history', version: 1 })];
    for (const sid of c.members.keys()) await prefillDisk(c, sid, { acceptedEpoch: 0, currentEpoch: 0, log: history });
    const leader = await startAndElect(c);
    await c.runUntil(() => c.isConverged(), 10_000);
    for (const sid of c.up()) expect(c.app(sid)!.get('old')?.value).toBe('history');

    // Every remaining counter value of epoch 1 is used: 0xfffffff1 .. 0xffffffff.
    const acked: bigint[] = [];
    for (let i = 1; i <= MAX_COUNTER - START; i++) {
      const r = await settle(c, c.submit(leader, { op: 'put', key: `k${i % 4}`, value: `w${i}` }, `w${i}`));
      if (!r.ok) throw r.error;
      acked.push(r.value.zxid);
    }
    expect(acked.at(-1)).toBe(makeZxid(1, MAX_COUNTER));

    // The next writes cannot be proposed in epoch 1: their clients get an error, and can retry.
    const follower = others(c, leader)[0]!;
    const atLeader = settle(c, c.submit(leader, { op: 'put', key: 'late', value: 'via-leader' }, 'late-leader'));
    const r1 = await atLeader;
    expect(r1.ok).toBe(false);
    if (!r1.ok) {
      expect(r1.error).toBeInstanceOf(RequestRejected);
      expect(r1.error.message).toMatch(/counter exhausted/);
    }
    const r2 = await settle(c, c.submit(follower, { op: 'put', key: 'late2', value: 'via-follower' }, 'late-follower'));
    expect(r2.ok).toBe(false);

    const retry1 = await putRetry(c, 'late', 'via-leader');
    const retry2 = await putRetry(c, 'late2', 'via-follower');
    expect(epochOf(retry1.zxid)).toBeGreaterThanOrEqual(2);
    expect(counterOf(retry1.zxid)).toBeLessThan(10);
    expect(retry2.zxid > retry1.zxid).toBe(true);

    await recoverAndCheck(c);
    for (const sid of c.up()) {
      const app = c.app(sid)!;
      expect(app.get('late')?.value).toBe('via-leader');
      expect(app.get('late2')?.value).toBe('via-follower');
      // every acked epoch-1 write is there (the last writer of each key wins)
      for (let k = 0; k < 4; k++) {
        const lastI = [...Array(MAX_COUNTER - START).keys()].map((j) => j + 1).filter((i) => i % 4 === k).at(-1)!;
        expect(app.get(`k${k}`)?.value).toBe(`w${lastI}`);
      }
      expect(app.lastApplied()).toBe(retry2.zxid);
    }
    // nothing was ever applied with a counter past 0xffffffff rolled into epoch 2
    expect(c.checker.committedCount()).toBe(1 + acked.length + 2);
  });
});
