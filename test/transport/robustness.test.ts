import { afterEach, describe, expect, it } from 'vitest';
import { encodePeerFrame } from '../../src/codec/peer-codec.js';
import { PROTOCOL_VERSION } from '../../src/transport/handshake.js';
import { ensemble, note, RawPeer, sleep, startNode, waitFor, WARN, type LogLine, type Node } from './helpers.js';

const nodes: Node[] = [];
const raws: RawPeer[] = [];
async function start(...args: Parameters<typeof startNode>): Promise<Node> {
  const n = await startNode(...args);
  nodes.push(n);
  return n;
}
async function hello(...args: Parameters<typeof RawPeer.hello>): Promise<RawPeer> {
  const r = await RawPeer.hello(...args);
  raws.push(r);
  return r;
}
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(nodes.splice(0).map((n) => n.t.shutdown()));
});

const warnings = (n: Node): LogLine[] => n.lines.filter((l) => l.level >= WARN);

/** A leader (id 1) with a real learner (id 2) connected: the connection that must survive. */
async function setup(extra: Parameters<typeof startNode>[2] = {}) {
  const servers = await ensemble(3, 1); // 1..3 voters, 4 observer
  const leader = await start(servers, 1, extra);
  const learner = await start(servers, 2);
  learner.t.connectToLeader(1);
  await waitFor(() => learner.h.leaderConnected.length === 1, 'learner connected');
  learner.t.send(1, { type: 'PING', zxid: 1n });
  await waitFor(() => leader.h.quorum.length === 1, 'leader hears learner');
  return { servers, leader, learner };
}

/** The surviving learner connection still works both ways and saw no close. */
async function survives(leader: Node, learner: Node): Promise<void> {
  const n = leader.h.quorum.length;
  learner.t.send(1, { type: 'PING', zxid: 2n });
  leader.t.send(2, { type: 'PING', zxid: 3n });
  await waitFor(() => leader.h.quorum.length === n + 1 && learner.h.quorum.some((e) => e.msg.type === 'PING'), 'survivor works');
  expect(learner.h.quorumClosed).toEqual([]);
}

describe('handshake refusals over TCP', () => {
  it('refuses another cluster: the connector fails, both sides log why', async () => {
    const { servers, leader, learner } = await setup();
    const stranger = await start(servers, 3, { clusterId: 'other-cluster' });
    stranger.t.connectToLeader(1);
    await waitFor(() => stranger.h.leaderFailed.length === 1, 'connector fails');
    expect(stranger.h.leaderConnected).toEqual([]);
    expect(warnings(leader).some((l) => /refused quorum connection .*cluster 'other-cluster'.*'test-cluster'/.test(l.msg))).toBe(true);
    expect(warnings(leader).some((l) => /clusterId/.test(String(l.hint)))).toBe(true);
    expect(warnings(stranger).some((l) => /refused by server 1/.test(l.msg))).toBe(true);
    expect(leader.t.stats().counters.refused).toBe(1);
    await survives(leader, learner);
    // Same on the election channel: the notification is never delivered.
    stranger.t.sendElection(1, note(1));
    await sleep(200);
    expect(leader.h.election).toEqual([]);
  });

  it.each([
    ['an unknown server id', { sid: 42, channel: 'quorum' as const }, 'quorum', /server id 42 is not in this server's configuration/],
    ['our own id', { sid: 1, channel: 'quorum' as const }, 'quorum', /own id 1/],
    ['an observer on the election channel', { sid: 4, channel: 'election' as const }, 'election', /observer/],
    ['another protocol version', { sid: 3, channel: 'quorum' as const, version: PROTOCOL_VERSION + 1 }, 'quorum', /protocol version/],
    ['a quorum hello on the election port', { sid: 3, channel: 'quorum' as const }, 'election', /quorum hello arrived on the election port/],
  ])('refuses %s with a reject, a log line, and nothing else disturbed', async (_name, h, port, reason) => {
    const { servers, leader, learner } = await setup();
    const r = await hello(port === 'quorum' ? servers[0].quorumPort : servers[0].electionPort, h);
    expect(r.answer?.kind).toBe('reject');
    expect(r.answer?.reason).toMatch(reason);
    await waitFor(() => r.closed, 'refused socket closed');
    const w = warnings(leader).find((l) => reason.test(l.msg));
    expect(w).toBeDefined();
    expect(w?.hint).toEqual(expect.any(String));
    expect(leader.h.quorumClosed).toEqual([]);
    await survives(leader, learner);
  });

  it('closes a connection that sends garbage before any handshake, without an answer', async () => {
    const { servers, leader, learner } = await setup();
    for (const port of [servers[0].quorumPort, servers[0].electionPort]) {
      const r = await RawPeer.connect(port);
      raws.push(r);
      r.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      await waitFor(() => r.closed, 'closed');
      expect(r.answer).toBeNull();
    }
    expect(warnings(leader).filter((l) => /not a handshake/.test(l.msg))).toHaveLength(2);
    expect(leader.t.stats().counters.refused).toBe(2);
    await survives(leader, learner);
  });

  it('closes a connection that never sends its handshake', async () => {
    const { servers, leader, learner } = await setup({ handshakeTimeoutMs: 150 });
    const r = await RawPeer.connect(servers[0].quorumPort);
    raws.push(r);
    await waitFor(() => r.closed, 'closed after the timeout');
    expect(warnings(leader).some((l) => /no handshake within 150 ms/.test(l.msg))).toBe(true);
    await survives(leader, learner);
  });
});

describe('bad frames after the handshake', () => {
  it('an oversized frame closes that connection only, with onQuorumClosed and a log naming the peer', async () => {
    const { servers, leader, learner } = await setup({ maxFrameBytes: 1024 });
    const r = await hello(servers[0].quorumPort, { sid: 3, channel: 'quorum' });
    expect(r.answer?.kind).toBe('accept');
    r.write(encodePeerFrame({ type: 'PING', zxid: 9n }));
    await waitFor(() => leader.h.quorum.some((e) => e.from === 3), 'a good frame first');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    r.write(header);
    await waitFor(() => r.closed, 'closed');
    await waitFor(() => leader.h.quorumClosed.length === 1, 'onQuorumClosed');
    expect(leader.h.quorumClosed).toEqual([3]);
    const w = warnings(leader).find((l) => l.peer === 3 && /oversized/.test(l.msg));
    expect(w).toMatchObject({ channel: 'quorum' });
    expect(leader.t.stats().counters.protocolErrors).toBe(1);
    await survives(leader, learner);
  });

  it('an undecodable frame closes that connection only', async () => {
    const { servers, leader, learner } = await setup();
    const r = await hello(servers[0].quorumPort, { sid: 3, channel: 'quorum' });
    const junk = Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]);
    r.write(junk);
    await waitFor(() => r.closed && leader.h.quorumClosed.length === 1, 'closed');
    expect(warnings(leader).some((l) => l.peer === 3 && /undecodable frame/.test(l.msg))).toBe(true);
    await survives(leader, learner);
  });

  it('a message of the wrong channel closes that connection', async () => {
    const { servers, leader, learner } = await setup();
    const r = await hello(servers[0].quorumPort, { sid: 3, channel: 'quorum' });
    r.write(encodePeerFrame(note(1)));
    await waitFor(() => r.closed && leader.h.quorumClosed.length === 1, 'closed');
    expect(warnings(leader).some((l) => /NOTIFICATION on the quorum channel/.test(l.msg))).toBe(true);
    await survives(leader, learner);
  });

  it('a bad frame on an election connection closes it; the election channel recovers', async () => {
    const servers = await ensemble(3);
    const a = await start(servers, 1);
    const b = await start(servers, 2);
    // A raw "server 3" (higher than 1) opens the election connection to 1 and sends junk.
    const r = await hello(servers[0].electionPort, { sid: 3, channel: 'election' });
    expect(r.answer?.kind).toBe('accept');
    r.write(encodePeerFrame(note(4, 3)));
    await waitFor(() => a.h.election.length === 1, 'a good notification first');
    r.write(Buffer.from([0, 0, 0, 2, 0x92, 0xff]));
    await waitFor(() => r.closed, 'closed');
    expect(warnings(a).some((l) => l.peer === 3 && l.channel === 'election' && /undecodable/.test(l.msg))).toBe(true);
    b.t.sendElection(1, note(5, 2));
    await waitFor(() => a.h.election.some((e) => e.from === 2), 'other peers unaffected');
  });

  it('a handler that throws closes that connection and does not crash the server', async () => {
    const { leader, learner } = await setup();
    let thrown = false;
    leader.h.onQuorum = () => {
      thrown = true;
      throw new Error('boom');
    };
    learner.t.send(1, { type: 'PING', zxid: 5n });
    await waitFor(() => thrown && learner.h.quorumClosed.length === 1 && leader.h.quorumClosed.length === 1, 'closed');
    expect(leader.lines.some((l) => l.level >= 50 && /handler threw/.test(l.msg))).toBe(true);
  });
});

describe('backpressure', () => {
  it('a peer that does not read is disconnected once maxQueueBytes is exceeded', async () => {
    const maxQueueBytes = 1024 * 1024;
    const servers = await ensemble(3);
    const leader = await start(servers, 1, { maxQueueBytes });
    const good = await start(servers, 3);
    good.t.connectToLeader(1);
    const r = await hello(servers[0].quorumPort, { sid: 2, channel: 'quorum' });
    expect(r.answer?.kind).toBe('accept');
    await waitFor(() => good.h.leaderConnected.length === 1, 'good learner');
    good.t.send(1, { type: 'PING', zxid: 1n });
    await waitFor(() => leader.h.quorum.some((e) => e.from === 3), 'good learner known');
    r.socket.pause(); // the slow reader
    const data = new Uint8Array(32 * 1024).fill(1);
    let maxQueued = 0;
    let sent = 0;
    const open = () => leader.t.stats().connections.some((c) => c.channel === 'quorum' && c.peer === 2);
    // Keep writing (yielding so bytes reach the kernel) until the bound trips; 1 GiB at most.
    while (open() && sent < 32 * 1024) {
      for (let i = 0; i < 4; i++) {
        leader.t.broadcast([2, 3], { type: 'PROPOSAL', txns: [{ zxid: BigInt(++sent), data }] });
        const q = leader.t.stats().connections.find((c) => c.channel === 'quorum' && c.peer === 2)?.queuedBytes ?? 0;
        maxQueued = Math.max(maxQueued, q);
      }
      await new Promise((res) => setImmediate(res));
      // Let the good learner drain.
      if (sent % 64 === 0) await sleep(2);
    }
    expect(open()).toBe(false);
    expect(sent * data.length).toBeGreaterThan(maxQueueBytes); // the kernel took its share first
    expect(maxQueued).toBeLessThanOrEqual(maxQueueBytes);
    await waitFor(() => leader.h.quorumClosed.includes(2), 'onQuorumClosed for the slow peer');
    expect(leader.t.stats().counters.slowPeers).toBe(1);
    expect(warnings(leader).some((l) => l.peer === 2 && /not reading fast enough/.test(l.msg))).toBe(true);
    // The good learner keeps its connection and got everything in order.
    await waitFor(() => good.h.quorum.length === sent, 'good learner got all', 30_000);
    expect(good.h.quorumClosed).toEqual([]);
    expect(leader.h.quorumClosed).toEqual([2]);
  });

  it('a bulk sender that awaits whenWritable never trips the bound, however much it sends to a slow reader', async () => {
    const maxQueueBytes = 1024 * 1024;
    const servers = await ensemble(2);
    const leader = await start(servers, 1, { maxQueueBytes });
    const r = await hello(servers[0].quorumPort, { sid: 2, channel: 'quorum' });
    expect(r.answer?.kind).toBe('accept');
    await waitFor(() => leader.t.stats().connections.some((c) => c.channel === 'quorum' && c.peer === 2), 'learner connected');
    r.socket.pause(); // slow: reads nothing for a while, then at its own pace
    let received = 0;
    r.socket.on('data', (chunk: Buffer) => (received += chunk.length));
    setTimeout(() => r.socket.resume(), 300);
    const data = new Uint8Array(64 * 1024).fill(7);
    let maxQueued = 0;
    const frames = 128; // 8 MiB: 8 x the bound
    for (let i = 1; i <= frames; i++) {
      expect(await leader.t.whenWritable(2, 256 * 1024)).toBe(true);
      leader.t.send(2, { type: 'PROPOSAL', txns: [{ zxid: BigInt(i), data }] });
      maxQueued = Math.max(maxQueued, leader.t.stats().connections.find((c) => c.channel === 'quorum' && c.peer === 2)?.queuedBytes ?? 0);
    }
    await waitFor(() => received >= frames * data.length, 'everything received', 30_000);
    expect(maxQueued).toBeLessThanOrEqual(maxQueueBytes);
    expect(leader.t.stats().counters.slowPeers).toBe(0);
    expect(leader.h.quorumClosed).toEqual([]);
    // No connection (or a closed one): false, at once.
    expect(await leader.t.whenWritable(3, 0)).toBe(false);
    r.socket.destroy();
    await waitFor(() => leader.h.quorumClosed.includes(2), 'closed');
    expect(await leader.t.whenWritable(2, 0)).toBe(false);
  });
});
