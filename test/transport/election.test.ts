import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../../src/transport/types.js';
import { ensemble, note, sleep, startNode, waitFor, type Node } from './helpers.js';

const nodes: Node[] = [];
async function start(...args: Parameters<typeof startNode>): Promise<Node> {
  const n = await startNode(...args);
  nodes.push(n);
  return n;
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.t.shutdown()));
});

const electionConns = (n: Node) => n.t.stats().connections.filter((c) => c.channel === 'election');

describe('election channel', () => {
  it('two transports exchange notifications both ways over one connection', async () => {
    const servers = await ensemble(2);
    const [a, b] = [await start(servers, 1), await start(servers, 2)];
    a.t.sendElection(2, note(1));
    await waitFor(() => b.h.election.length === 1, 'b receives');
    expect(b.h.election[0]).toEqual({ from: 1, msg: note(1) });
    b.t.sendElection(1, note(2, 2));
    await waitFor(() => a.h.election.length === 1, 'a receives');
    expect(a.h.election[0]).toEqual({ from: 2, msg: note(2, 2) });
    for (let i = 3; i < 50; i++) a.t.sendElection(2, note(i));
    await waitFor(() => b.h.election.length === 48, 'b receives all');
    expect(b.h.election.map((e) => e.msg.round)).toEqual([1, ...Array.from({ length: 47 }, (_, i) => i + 3)]);
    // One connection per pair, opened by the higher id.
    expect(electionConns(a)).toHaveLength(1);
    expect(electionConns(b)).toHaveLength(1);
    expect(electionConns(a)[0].direction).toBe('inbound');
    expect(electionConns(b)[0].direction).toBe('outbound');
  });

  it('three transports: every voter reaches every other', async () => {
    const servers = await ensemble(3);
    const ns = [await start(servers, 1), await start(servers, 2), await start(servers, 3)];
    for (const n of ns) for (const to of [1, 2, 3]) if (to !== n.t.self) n.t.sendElection(to, note(n.t.self, n.t.self));
    await waitFor(() => ns.every((n) => n.h.election.length === 2), 'all notifications');
    for (const n of ns) {
      expect(n.h.election.map((e) => e.from).sort()).toEqual([1, 2, 3].filter((s) => s !== n.t.self));
      expect(electionConns(n)).toHaveLength(2);
      for (const c of electionConns(n)) expect(c.direction).toBe(c.peer < n.t.self ? 'outbound' : 'inbound');
    }
  });

  it('crossing connections settle on the one opened by the higher id', async () => {
    const servers = await ensemble(2);
    const [a, b] = [await start(servers, 1), await start(servers, 2)];
    const events: ConnectionEvent[] = [];
    a.t.connections$.subscribe((e) => events.push(e));
    b.t.connections$.subscribe((e) => events.push(e));
    // Both dial at the same moment.
    a.t.sendElection(2, note(1));
    b.t.sendElection(1, note(1, 2));
    await waitFor(() => a.h.election.length >= 1 && b.h.election.length >= 1, 'both receive');
    await sleep(300); // let any loser close
    expect(electionConns(a)).toEqual([expect.objectContaining({ peer: 2, direction: 'inbound' })]);
    expect(electionConns(b)).toEqual([expect.objectContaining({ peer: 1, direction: 'outbound' })]);
    // Still works both ways afterwards, over that single connection.
    a.t.sendElection(2, note(7));
    b.t.sendElection(1, note(8, 2));
    await waitFor(() => a.h.election.some((e) => e.msg.round === 8) && b.h.election.some((e) => e.msg.round === 7), 'after');
    expect(electionConns(a)).toHaveLength(1);
    expect(electionConns(b)).toHaveLength(1);
    const opened = events.filter((e) => e.state === 'open');
    expect(opened.every((e) => (e.peer === 1 ? e.direction === 'outbound' : e.direction === 'inbound'))).toBe(true);
  });

  it('many simultaneous crossings among five voters leave exactly one connection per pair', async () => {
    const servers = await ensemble(5);
    const ns = await Promise.all([1, 2, 3, 4, 5].map((id) => start(servers, id)));
    for (const n of ns) for (const to of [1, 2, 3, 4, 5]) if (to !== n.t.self) n.t.sendElection(to, note(1, n.t.self));
    await waitFor(() => ns.every((n) => new Set(n.h.election.map((e) => e.from)).size === 4), 'all pairs talk');
    await sleep(300);
    for (const n of ns) {
      const cs = electionConns(n);
      expect(cs.map((c) => c.peer).sort()).toEqual([1, 2, 3, 4, 5].filter((s) => s !== n.t.self));
      for (const c of cs) expect(c.direction).toBe(c.peer < n.t.self ? 'outbound' : 'inbound');
    }
  });

  it('queues briefly while the peer is down, then delivers when it comes up (lower id waiting for the higher)', async () => {
    const servers = await ensemble(2);
    const a = await start(servers, 1);
    a.t.sendElection(2, note(1));
    a.t.sendElection(2, note(2));
    await sleep(100);
    expect(a.t.stats().electionQueued[2]).toBe(2);
    const b = await start(servers, 2);
    await waitFor(() => b.h.election.length === 2, 'queued notifications delivered');
    expect(b.h.election.map((e) => e.msg.round)).toEqual([1, 2]);
  });

  it('the queue is bounded: oldest notifications are dropped', async () => {
    const servers = await ensemble(2);
    const a = await start(servers, 2, { electionQueueLength: 4 });
    for (let i = 1; i <= 10; i++) a.t.sendElection(1, note(i));
    expect(a.t.stats().electionQueued[1]).toBe(4);
    expect(a.t.stats().counters.electionDropped).toBe(6);
    const b = await start(servers, 1);
    await waitFor(() => b.h.election.length === 4, 'delivered');
    expect(b.h.election.map((e) => e.msg.round)).toEqual([7, 8, 9, 10]);
  });

  it('drops notifications to observers, unknown ids and itself', async () => {
    const servers = await ensemble(2, 1);
    const a = await start(servers, 1);
    a.t.sendElection(3, note(1)); // observer
    a.t.sendElection(9, note(1)); // unknown
    a.t.sendElection(1, note(1)); // self
    expect(a.t.stats().counters.electionDropped).toBe(3);
    expect(a.t.stats().electionQueued).toEqual({});
  });

  for (const restarted of [1, 2]) {
    it(`reconnects after server ${restarted} restarts (the lower and the higher id)`, async () => {
      const servers = await ensemble(2);
      let a = await start(servers, 1);
      let b = await start(servers, 2);
      a.t.sendElection(2, note(1));
      await waitFor(() => b.h.election.length === 1 && electionConns(a).length === 1, 'first exchange');
      const victim = restarted === 1 ? a : b;
      await victim.t.shutdown();
      nodes.splice(nodes.indexOf(victim), 1);
      const survivor = restarted === 1 ? b : a;
      await waitFor(() => electionConns(survivor).length === 0, 'survivor notices');
      const again = await start(servers, restarted);
      if (restarted === 1) a = again;
      else b = again;
      // The survivor keeps the connection up by itself (it dials or nudges with backoff)...
      await waitFor(() => electionConns(a).length === 1 && electionConns(b).length === 1, 'reconnected', 15_000);
      // ...and traffic flows both ways.
      a.t.sendElection(2, note(5));
      b.t.sendElection(1, note(6, 2));
      await waitFor(() => b.h.election.some((e) => e.msg.round === 5) && a.h.election.some((e) => e.msg.round === 6), 'traffic');
    });
  }

  it('publishes inbound notifications and connection states as observables', async () => {
    const servers = await ensemble(2);
    const [a, b] = [await start(servers, 1), await start(servers, 2)];
    const inbound: unknown[] = [];
    const states: string[] = [];
    b.t.inbound$.subscribe((m) => inbound.push(m));
    b.t.connections$.subscribe((e) => states.push(`${e.channel}:${e.peer}:${e.state}`));
    a.t.sendElection(2, note(3));
    await waitFor(() => inbound.length === 1, 'inbound$');
    expect(inbound[0]).toEqual({ from: 1, channel: 'election', msg: note(3) });
    expect(states).toContain('election:1:open');
    let completed = false;
    b.t.inbound$.subscribe({ complete: () => (completed = true) });
    await b.t.shutdown();
    expect(completed).toBe(true);
  });
});
