import { afterEach, describe, expect, it } from 'vitest';
import type { QuorumMessage } from '../../src/protocol/messages.js';
import { ensemble, RawPeer, sleep, startNode, waitFor, type Node } from './helpers.js';

const nodes: Node[] = [];
async function start(...args: Parameters<typeof startNode>): Promise<Node> {
  const n = await startNode(...args);
  nodes.push(n);
  return n;
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.t.shutdown()));
});

const quorumConns = (n: Node) => n.t.stats().connections.filter((c) => c.channel === 'quorum');

/** Leader `leader` and learners connected to it. */
async function connected(servers: Awaited<ReturnType<typeof ensemble>>, leaderId: number, learnerIds: number[]) {
  const leader = await start(servers, leaderId);
  const learners = await Promise.all(learnerIds.map((id) => start(servers, id)));
  for (const l of learners) l.t.connectToLeader(leaderId);
  await waitFor(() => learners.every((l) => l.h.leaderConnected.includes(leaderId)), 'learners connected');
  // The leader learns of a learner by its first message.
  for (const l of learners) l.t.send(leaderId, { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: 0n, observer: false });
  await waitFor(() => leader.h.quorum.length === learners.length, 'leader hears learners');
  return { leader, learners };
}

describe('quorum channel', () => {
  it('a learner connects to its leader and they exchange messages', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 2, [1]);
    const [f] = learners;
    expect(leader.h.quorum[0]).toEqual({ from: 1, msg: { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: 0n, observer: false } });
    leader.t.send(1, { type: 'LEADERINFO', newEpoch: 2 });
    await waitFor(() => f.h.quorum.length === 1, 'learner receives');
    expect(f.h.quorum[0]).toEqual({ from: 2, msg: { type: 'LEADERINFO', newEpoch: 2 } });
    expect(quorumConns(leader)).toEqual([expect.objectContaining({ peer: 1, direction: 'inbound' })]);
    expect(quorumConns(f)).toEqual([expect.objectContaining({ peer: 2, direction: 'outbound' })]);
  });

  it('an observer may connect to the leader', async () => {
    const servers = await ensemble(1, 1);
    const { leader } = await connected(servers, 1, [2]);
    expect(leader.h.quorum[0].from).toBe(2);
  });

  it('keeps FIFO order for 10,000 messages each way', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 1, [2]);
    const [f] = learners;
    const N = 10_000;
    const data = new Uint8Array(100).fill(7);
    // Sent in bursts over several ticks, so batching and kernel buffering both come into play.
    for (let i = 1; i <= N; i++) {
      leader.t.send(2, i % 2 ? { type: 'PROPOSAL', txns: [{ zxid: BigInt(i), data }] } : { type: 'COMMIT', zxid: BigInt(i) });
      f.t.send(1, { type: 'ACK', zxid: BigInt(i) });
      if (i % 1000 === 0) await sleep(0);
    }
    await waitFor(() => f.h.quorum.length === N && leader.h.quorum.length === N + 1, 'all delivered', 30_000);
    const zx = (m: QuorumMessage): bigint => (m.type === 'PROPOSAL' ? m.txns[0].zxid : (m as { zxid: bigint }).zxid);
    expect(f.h.quorum.every((e, i) => zx(e.msg) === BigInt(i + 1) && e.msg.type === (i % 2 === 0 ? 'PROPOSAL' : 'COMMIT'))).toBe(true);
    expect(leader.h.quorum.slice(1).every((e, i) => e.msg.type === 'ACK' && e.msg.zxid === BigInt(i + 1))).toBe(true);
    const p = f.h.quorum[0].msg;
    expect(p.type === 'PROPOSAL' && Buffer.from(p.txns[0].data).equals(Buffer.from(data))).toBe(true);
  });

  it('broadcasts one message to several learners, in order with sends', async () => {
    const servers = await ensemble(4);
    const { leader, learners } = await connected(servers, 4, [1, 2, 3]);
    for (let i = 1; i <= 200; i++) {
      leader.t.broadcast([1, 2, 3], { type: 'PROPOSAL', txns: [{ zxid: BigInt(i), data: Buffer.from(`tx${i}`) }] });
      leader.t.broadcast([1, 2, 3], { type: 'COMMIT', zxid: BigInt(i) });
    }
    leader.t.send(2, { type: 'PING', zxid: 200n });
    await waitFor(() => learners.every((l) => l.h.quorum.length >= 400), 'all learners receive');
    for (const l of learners) {
      const types = l.h.quorum.map((e) => e.msg.type);
      expect(types.slice(0, 4)).toEqual(['PROPOSAL', 'COMMIT', 'PROPOSAL', 'COMMIT']);
      const last = l.h.quorum[399].msg;
      expect(last).toEqual({ type: 'COMMIT', zxid: 200n });
    }
    await waitFor(() => learners[1].h.quorum.length === 401, 'ping');
    // broadcast to a peer without a connection is dropped silently
    leader.t.broadcast([1, 9], { type: 'PING', zxid: 1n });
    await waitFor(() => learners[0].h.quorum.length === 401, 'ping to 1');
    expect(leader.t.stats().counters.quorumDropped).toBe(1);
  });

  it('leader-side close(): the learner gets onQuorumClosed exactly once, the leader none', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 1, [2]);
    const [f] = learners;
    leader.t.send(2, { type: 'PING', zxid: 1n });
    leader.t.close(2, 'test');
    await waitFor(() => f.h.quorumClosed.length === 1, 'learner notified');
    // The message sent just before close() still arrived (graceful close).
    expect(f.h.quorum.map((e) => e.msg.type)).toEqual(['PING']);
    await sleep(200);
    expect(f.h.quorumClosed).toEqual([1]);
    expect(leader.h.quorumClosed).toEqual([]);
    expect(quorumConns(leader)).toEqual([]);
    expect(quorumConns(f)).toEqual([]);
    // sends after close are dropped
    f.t.send(1, { type: 'PING', zxid: 2n });
    expect(f.t.stats().counters.quorumDropped).toBe(1);
  });

  it('learner-side closeAll(): the leader gets onQuorumClosed once; a learner crash too', async () => {
    const servers = await ensemble(3);
    const { leader, learners } = await connected(servers, 3, [1, 2]);
    learners[0].t.closeAll('leaving');
    await waitFor(() => leader.h.quorumClosed.length === 1, 'leader notified');
    await learners[1].t.shutdown();
    await waitFor(() => leader.h.quorumClosed.length === 2, 'leader notified of crash');
    await sleep(200);
    expect(leader.h.quorumClosed.sort()).toEqual([1, 2]);
    expect(learners[0].h.quorumClosed).toEqual([]);
    expect(learners[1].h.quorumClosed).toEqual([]);
  });

  it('leader closeAll() notifies every learner once and the leader none', async () => {
    const servers = await ensemble(3);
    const { leader, learners } = await connected(servers, 1, [2, 3]);
    leader.t.closeAll('stepping down');
    await waitFor(() => learners.every((l) => l.h.quorumClosed.length === 1), 'learners notified');
    await sleep(200);
    expect(learners.map((l) => l.h.quorumClosed)).toEqual([[1], [1]]);
    expect(leader.h.quorumClosed).toEqual([]);
  });

  it('connectToLeader to a server that is down calls onLeaderConnectFailed', async () => {
    const servers = await ensemble(2);
    const f = await start(servers, 1);
    f.t.connectToLeader(2);
    await waitFor(() => f.h.leaderFailed.length === 1, 'failure');
    expect(f.h.leaderConnected).toEqual([]);
    f.t.connectToLeader(9); // unknown id
    await waitFor(() => f.h.leaderFailed.length === 2, 'failure for unknown');
    expect(f.h.leaderFailed).toEqual([2, 9]);
  });

  it('a learner re-dialling its leader closes its old connection silently and works on the new one', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 1, [2]);
    const [f] = learners;
    f.t.connectToLeader(1); // closes its own old one (no callback on this side) and dials again
    await waitFor(() => f.h.leaderConnected.length === 2, 'reconnected');
    f.t.send(1, { type: 'PING', zxid: 5n });
    await waitFor(() => leader.h.quorum.some((e) => e.msg.type === 'PING'), 'message on the new connection');
    leader.t.send(2, { type: 'PING', zxid: 6n });
    await waitFor(() => f.h.quorum.some((e) => e.msg.type === 'PING'), 'leader reaches the new connection');
    await sleep(100);
    expect(f.h.quorumClosed).toEqual([]);
    expect(quorumConns(leader)).toHaveLength(1);
    expect(quorumConns(f)).toHaveLength(1);
  });

  it('a new connection from a sid that has one replaces the old one (no onQuorumClosed on the leader)', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 1, [2]);
    const [f] = learners;
    const raw = await RawPeer.hello(servers[0].quorumPort, { sid: 2, channel: 'quorum' });
    expect(raw.answer?.kind).toBe('accept');
    // The old connection is closed by the leader: the old learner hears of it, the leader does not.
    await waitFor(() => f.h.quorumClosed.length === 1, 'old connection closed');
    expect(f.h.quorumClosed).toEqual([1]);
    const before = raw.received;
    leader.t.send(2, { type: 'PING', zxid: 6n });
    await waitFor(() => raw.received > before, 'leader writes to the new connection');
    await sleep(100);
    expect(leader.h.quorumClosed).toEqual([]);
    expect(quorumConns(leader)).toHaveLength(1);
    raw.destroy();
    await waitFor(() => leader.h.quorumClosed.length === 1, 'the new one closing is reported');
  });

  it('a restarted leader is reached again by connectToLeader', async () => {
    const servers = await ensemble(2);
    const { leader, learners } = await connected(servers, 2, [1]);
    const [f] = learners;
    await leader.t.shutdown();
    nodes.splice(nodes.indexOf(leader), 1);
    await waitFor(() => f.h.quorumClosed.length === 1, 'learner notices');
    const again = await start(servers, 2);
    f.t.connectToLeader(2);
    await waitFor(() => f.h.leaderConnected.length === 2, 'reconnected');
    f.t.send(2, { type: 'PING', zxid: 1n });
    await waitFor(() => again.h.quorum.length === 1, 'new leader hears');
  });

  it('start() rejects with a clear error when the port is taken', async () => {
    const servers = await ensemble(2);
    await start(servers, 1);
    const dup = startNode(servers, 1);
    await expect(dup).rejects.toThrow(/cannot bind the election port 127\.0\.0\.1:\d+ of server 1 \(EADDRINUSE\)/);
  });
});
