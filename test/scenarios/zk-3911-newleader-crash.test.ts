/**
 * ZOOKEEPER-3911, 4643, 4646, 4785: the follower's NEWLEADER handling must be (1) the synced log
 * durable, (2) currentEpoch written, (3) the ACK sent. A crash at any step, of the follower, of the
 * new leader, or of both, must lose no committed txn, and the cluster must recover and converge.
 *
 * Set-up that makes the follower's durability decisive: epoch 1's leader proposes x; only follower
 * A logs it (the leader crashes before its own write is durable; follower B is down). A then leads
 * epoch 2 and syncs B with x as an uncommitted tail. Once B acks NEWLEADER, A and B are a quorum
 * holding x: A commits and delivers it. If A is then lost, B alone carries x into the next epoch.
 */
import { describe, expect, it } from 'vitest';
import { peerMachine } from '../../machines/peer.js';
import { followerMachine } from '../../machines/follower.js';
import type { SimCluster } from '../../src/sim/cluster.js';
import type { Zxid } from '../../src/zxid.js';
import {
  disk,
  durableZxids,
  followerPhase,
  learnerPhase,
  others,
  put,
  putRetry,
  recoverAndCheck,
  scenario,
  startAndElect,
  stepUntil,
  track,
  type Scenario,
} from './helpers.js';

type Point = 'afterNewLeaderBeforeDurable' | 'afterDurableBeforeCurrentEpoch' | 'afterCurrentEpochBeforeAckReceived' | 'afterAck';
type Victim = 'follower' | 'leader' | 'both';

interface Setup {
  s: Scenario;
  /** epoch 1's leader (down, lost x) */
  l1: number;
  /** the follower that logged x and leads epoch 2 */
  a: number;
  /** the follower being synced by a */
  b: number;
  x: Zxid;
}

async function setUp(seed: number, machine?: typeof peerMachine): Promise<Setup> {
  const s = scenario(seed, machine ? { machine } : {});
  const { c } = s;
  const l1 = await startAndElect(c);
  const [a, b] = others(c, l1) as [number, number];
  for (let i = 0; i < 3; i++) await put(c, l1, `k${i}`, 'committed');

  c.crashServer(b);
  // l1's own write of x is slow: a logs and acks x, l1 crashes before x is durable on l1.
  disk(c, l1).setSlow(true);
  const xReq = track(c.submit(l1, { op: 'put', key: 'x', value: 'only-on-a' }, 'x'));
  const before = durableZxids(c, a);
  const x = before[before.length - 1]! + 1n;
  await stepUntil(c, () => durableZxids(c, a).includes(x), 'x durable on a');
  expect(durableZxids(c, l1)).not.toContain(x);
  c.crashServer(l1);
  disk(c, l1).setSlow(false);
  await c.runFor(1);
  expect(xReq.get()?.ok).toBe(false); // never acknowledged
  expect(c.checker.committedZxid() < x).toBe(true);

  // b comes back with a slow disk, so every step of its NEWLEADER handling can be caught.
  disk(c, b).setSlow(true);
  await c.startServer(b);
  return { s, l1, a, b, x };
}

async function stopAt(st: Setup, point: Point): Promise<void> {
  const { c } = st.s;
  const { a, b, x } = st;
  const epochs = () => disk(c, b).durableEpochs();
  switch (point) {
    case 'afterNewLeaderBeforeDurable':
      await stepUntil(c, () => followerPhase(c, b) === 'synchronization.awaitingDurableLog', 'b got NEWLEADER');
      expect(durableZxids(c, b)).not.toContain(x);
      expect(epochs().currentEpoch).toBe(1);
      expect(learnerPhase(c, a, b)).toBe('syncing');
      break;
    case 'afterDurableBeforeCurrentEpoch':
      await stepUntil(c, () => followerPhase(c, b) === 'synchronization.persistingCurrentEpoch', 'b log durable');
      expect(durableZxids(c, b)).toContain(x);
      expect(epochs().currentEpoch).toBe(1);
      expect(learnerPhase(c, a, b)).toBe('syncing');
      break;
    case 'afterCurrentEpochBeforeAckReceived':
      await stepUntil(c, () => followerPhase(c, b) === 'synchronization.awaitingUpToDate', 'b currentEpoch durable, ACK sent');
      expect(durableZxids(c, b)).toContain(x);
      expect(epochs().currentEpoch).toBe(2);
      expect(learnerPhase(c, a, b)).toBe('syncing'); // the ACK is still on the wire
      break;
    case 'afterAck':
      await stepUntil(c, () => c.leader() === a && learnerPhase(c, a, b) === 'synced', 'a established on b\'s ACK');
      expect(durableZxids(c, b)).toContain(x);
      expect(epochs().currentEpoch).toBe(2);
      // A quorum (a, b) holds x durably: a has committed and delivered it.
      expect(c.checker.positionOf(a) >= x).toBe(true);
      break;
  }
  if (point !== 'afterAck') expect(c.checker.committedZxid() < x).toBe(true);
}

async function crashAndRecover(st: Setup, point: Point, victim: Victim): Promise<void> {
  const { c } = st.s;
  const { l1, a, b, x } = st;
  const committedX = c.checker.committedZxid() >= x;
  if (victim !== 'leader') c.crashServer(b);
  if (victim !== 'follower') c.crashServer(a);
  disk(c, b).setSlow(false);

  // Bring back l1 (which never had x) and b first: when a is gone, b must carry x by itself.
  await c.startServer(l1);
  if (victim === 'both') await c.startServer(b);
  const w = await putRetry(c, 'after', point);
  if (committedX) expect(w.zxid > x).toBe(true);

  await recoverAndCheck(c);
  check(c, x, committedX);
}

function check(c: SimCluster, x: Zxid, committedX: boolean): void {
  for (const sid of c.up()) {
    const app = c.app(sid)!;
    for (let i = 0; i < 3; i++) expect(app.get(`k${i}`)?.value).toBe('committed');
    expect(app.get('after')).toBeDefined();
    // Once committed, x is everywhere; an uncommitted x may go either way, but the same way everywhere.
    if (committedX) expect(app.get('x')?.value).toBe('only-on-a');
  }
  const xs = c.up().map((sid) => c.app(sid)!.get('x')?.value ?? null);
  expect(new Set(xs).size).toBe(1);
}

const POINTS: Point[] = ['afterNewLeaderBeforeDurable', 'afterDurableBeforeCurrentEpoch', 'afterCurrentEpochBeforeAckReceived', 'afterAck'];
const VICTIMS: Victim[] = ['follower', 'leader', 'both'];

describe('ZOOKEEPER-3911/4643/4646/4785: crashes around the follower\'s NEWLEADER handling', () => {
  for (const point of POINTS) {
    for (const victim of VICTIMS) {
      it(`${point}: crash of the ${victim === 'both' ? 'follower and the new leader' : victim}`, async () => {
        const st = await setUp(7);
        await stopAt(st, point);
        await crashAndRecover(st, point, victim);
      });
    }
  }

  it('afterAck, then the new leader is lost for good: the follower alone carries the committed txn', async () => {
    const st = await setUp(7);
    await stopAt(st, 'afterAck');
    const { c } = st.s;
    c.crashServer(st.a);
    c.crashServer(st.b);
    disk(c, st.b).setSlow(false);
    await c.startServer(st.l1);
    await c.startServer(st.b);
    await c.runUntil(() => c.leader() !== null && c.up().every((s) => c.node(s)!.getStatus().phase === 'broadcast'), 10_000);
    expect(c.leader()).toBe(st.b);
    for (const sid of c.up()) expect(c.app(sid)!.get('x')?.value).toBe('only-on-a');
    await put(c, st.l1, 'after', 'a-gone');
    // a stays down: the final check over the live servers
    c.finalCheck();
    expect(c.checker.violations).toEqual([]);
  });

  it('the scenario catches a follower that acks NEWLEADER before its log is durable (planted ZOOKEEPER-3911)', async () => {
    const acksEarly = peerMachine.provide({
      actors: { follower: followerMachine.provide({ guards: { logDurableToTarget: () => true } }) },
    });
    const st = await setUp(8, acksEarly);
    const { c } = st.s;
    await stepUntil(c, () => c.leader() === st.a && learnerPhase(c, st.a, st.b) === 'synced', 'a established');
    expect(c.checker.positionOf(st.a) >= st.x).toBe(true); // x committed and delivered by a
    expect(durableZxids(c, st.b)).not.toContain(st.x); // ... on b's word, which was not yet true
    c.crashServer(st.a);
    c.crashServer(st.b);
    disk(c, st.b).setSlow(false);
    await c.startServer(st.l1);
    await c.startServer(st.b);
    await expect(putRetry(c, 'after', 'planted')).rejects.toThrow(/PrimaryIntegrity|PrefixConsistency/);
  });
});
