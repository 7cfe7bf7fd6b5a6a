import { describe, expect, it } from 'vitest';
import { SimNetwork, type ConnId, type NetTraceEvent, type NodeHandlers } from '../../src/sim/network.js';
import { Prng } from '../../src/sim/prng.js';
import { Scheduler } from '../../src/sim/scheduler.js';

type Msg = { n: number; body?: { items: number[] } };

/** Records every callback of a node as a string. */
function recorder(events: string[], name: string): NodeHandlers<Msg> {
  return {
    onConnected: (c, p) => events.push(`${name}: connected ${c} to ${p}`),
    onRefused: (c, p) => events.push(`${name}: refused ${c} by ${p}`),
    onAccepted: (c, p) => events.push(`${name}: accepted ${c} from ${p}`),
    onMessage: (c, f, m) => events.push(`${name}: msg ${m.n} on ${c} from ${f}`),
    onClosed: (c, p) => events.push(`${name}: closed ${c} with ${p}`),
  };
}

function setup(seed = 1, opts: ConstructorParameters<typeof SimNetwork<Msg>>[2] = {}) {
  const s = new Scheduler();
  const net = new SimNetwork<Msg>(s, new Prng(seed), opts);
  const events: string[] = [];
  for (const id of [1, 2, 3]) net.attach(id, recorder(events, `n${id}`));
  return { s, net, events };
}

describe('SimNetwork', () => {
  it('connects, then carries messages both ways', async () => {
    const { s, net, events } = setup();
    const c = net.connect(1, 2);
    net.send(1, c, { n: 1 }); // allowed before onConnected: delivered after the accept
    await s.run();
    net.send(2, c, { n: 2 });
    await s.run();
    expect(events).toEqual([`n2: accepted ${c} from 1`, `n1: connected ${c} to 2`, `n2: msg 1 on ${c} from 1`, `n1: msg 2 on ${c} from 2`]);
    expect(net.openConnections()).toEqual([{ conn: c, a: 1, b: 2 }]);
    expect(net.peerOf(2, c)).toBe(1);
    expect(net.stats).toMatchObject({ sent: 2, delivered: 2, dropped: 0, connects: 1 });
  });

  it('keeps each direction FIFO under widely varying latency', async () => {
    const { s, net } = setup(3, { latency: { min: 0.01, max: 50 } });
    const got: Record<string, number[]> = { '1>2': [], '2>1': [] };
    net.crash(1);
    net.crash(2);
    net.attach(1, { onMessage: (_c, f, m) => got[`${f}>1`]!.push(m.n) });
    let conn: ConnId = 0;
    net.attach(2, { onAccepted: (c) => (conn = c), onMessage: (_c, f, m) => got[`${f}>2`]!.push(m.n) });
    const c = net.connect(1, 2);
    for (let i = 0; i < 500; i++) s.at(i * 0.05, () => net.send(1, c, { n: i }));
    await s.run({ until: 100 }); // n2 has accepted by now
    for (let i = 0; i < 500; i++) s.after(i * 0.03, () => net.send(2, conn, { n: i }));
    await s.run();
    const seq = Array.from({ length: 500 }, (_, i) => i);
    expect(got['1>2']).toEqual(seq);
    expect(got['2>1']).toEqual(seq);
  });

  it('a cut drops messages in flight, tells both ends later, and delivers nothing after', async () => {
    const { s, net, events } = setup(1, { latency: { min: 5, max: 5 }, closeDelay: { min: 2, max: 2 } });
    const c = net.connect(1, 2);
    await s.run();
    events.length = 0;
    const t0 = s.now();
    net.send(1, c, { n: 1 });
    s.after(1, () => net.cut(1, 2));
    s.after(1.5, () => net.send(2, c, { n: 2 })); // n2 has not noticed yet: the send is lost
    await s.run();
    expect(events).toEqual([`n2: closed ${c} with 1`, `n1: closed ${c} with 2`]);
    expect(s.now()).toBe(t0 + 5); // n1's delivery event ran, as a drop
    expect(net.stats).toMatchObject({ dropped: 2, delivered: 0 });
    net.send(1, c, { n: 3 }); // on a forgotten connection: dropped
    await s.run();
    expect(events).toHaveLength(2);
  });

  it('close() by one end tells only the other end', async () => {
    const { s, net, events } = setup();
    const c = net.connect(1, 2);
    await s.run();
    events.length = 0;
    net.close(2, c);
    await s.run();
    expect(events).toEqual([`n1: closed ${c} with 2`]);
  });

  it('partitions cut across groups and refuse new connections until heal()', async () => {
    const { s, net, events } = setup();
    const c12 = net.connect(1, 2);
    const c23 = net.connect(2, 3);
    await s.run();
    events.length = 0;
    net.partition([[1, 2], [3]]);
    const c13 = net.connect(1, 3);
    await s.run();
    expect(events.sort()).toEqual([`n3: closed ${c23} with 2`, `n2: closed ${c23} with 3`, `n1: refused ${c13} by 3`].sort());
    expect(net.openConnections().map((x) => x.conn)).toEqual([c12]);
    expect(net.reachable(1, 3)).toBe(false);
    net.heal();
    events.length = 0;
    const again = net.connect(3, 1);
    await s.run();
    expect(events).toEqual([`n1: accepted ${again} from 3`, `n3: connected ${again} to 1`]);
  });

  it('a node in no group is isolated by a partition', async () => {
    const { s, net, events } = setup();
    net.partition([[1, 2]]);
    const c = net.connect(1, 3);
    await s.run();
    expect(events).toEqual([`n1: refused ${c} by 3`]);
  });

  it('a crash breaks connections, refuses new ones and silences the old incarnation', async () => {
    const { s, net, events } = setup();
    const c12 = net.connect(1, 2);
    await s.run();
    events.length = 0;
    net.send(2, c12, { n: 1 });
    net.crash(1);
    expect(net.isUp(1)).toBe(false);
    const c21 = net.connect(2, 1);
    await s.run();
    expect(events.sort()).toEqual([`n2: closed ${c12} with 1`, `n2: refused ${c21} by 1`].sort());
    expect(() => net.connect(1, 2)).toThrow(/not up/);

    // A connect attempt by an incarnation that then crashes is never reported to the next one.
    events.length = 0;
    net.attach(1, recorder(events, 'n1b'));
    const c13 = net.connect(1, 3);
    net.crash(1);
    net.attach(1, recorder(events, 'n1c'));
    await s.run();
    expect(events).toEqual([]);
    expect(net.openConnections().some((x) => x.conn === c13)).toBe(false);
    expect(() => net.attach(1, recorder(events, 'x'))).toThrow(/already attached/);
  });

  it('a connect abandoned by its initiator is not reported back', async () => {
    const { s, net, events } = setup();
    const c = net.connect(1, 2);
    net.close(1, c);
    await s.run();
    expect(events).toEqual([]);
  });

  it("debug 'freeze' makes mutation by a handler throw; 'clone' hands out copies", async () => {
    for (const debug of ['freeze', 'clone'] as const) {
      const s = new Scheduler();
      const net = new SimNetwork<Msg>(s, new Prng(1), { debug });
      const errors: unknown[] = [];
      const received: Msg[] = [];
      net.attach(1, { onMessage: () => undefined });
      net.attach(2, {
        onMessage: (_c, _f, m) => {
          received.push(m);
          try {
            m.body!.items.push(4);
          } catch (e) {
            errors.push(e);
          }
        },
      });
      const c = net.connect(1, 2);
      const sent: Msg = { n: 1, body: { items: [1, 2, 3] } };
      net.send(1, c, sent);
      await s.run();
      if (debug === 'freeze') {
        expect(errors).toHaveLength(1);
        expect(received[0]).toBe(sent);
      } else {
        expect(errors).toHaveLength(0);
        expect(received[0]).not.toBe(sent);
        expect(sent.body!.items).toEqual([1, 2, 3]);
      }
    }
  });

  it('per-link latency overrides the default', async () => {
    const { s, net } = setup(1, { latency: { min: 1, max: 1 }, connectLatency: { min: 0, max: 0 } });
    const at: number[] = [];
    net.crash(2);
    net.attach(2, { onMessage: () => at.push(s.now()) });
    net.setLinkLatency(1, 2, { min: 30, max: 30 });
    const c = net.connect(1, 2);
    net.send(1, c, { n: 1 });
    net.setLinkLatency(1, 2, undefined);
    net.send(1, c, { n: 2 }); // may not overtake the slow one
    await s.run();
    expect(at).toEqual([30, 30]);
  });

  it('replays the same trace from the same seed', async () => {
    const run = async (seed: number) => {
      const trace: string[] = [];
      const s = new Scheduler();
      const prng = new Prng(seed);
      const net = new SimNetwork<Msg>(s, prng.fork('net'), {
        latency: { min: 0.1, max: 10 },
        trace: (e: NetTraceEvent) => trace.push(`${s.now().toFixed(6)} ${e.kind} ${e.conn} ${e.from}->${e.to}`),
      });
      const faults = prng.fork('faults');
      const conns: ConnId[] = [];
      for (const id of [1, 2, 3]) net.attach(id, { onMessage: () => undefined, onAccepted: (c) => conns.push(c) });
      for (let i = 0; i < 200; i++) {
        s.at(i, () => {
          const a = faults.int(1, 3);
          const b = (a % 3) + 1;
          if (faults.chance(0.1)) net.cut(a, b);
          else if (faults.chance(0.2)) conns.push(net.connect(a, b));
          else {
            const open = net.openConnections();
            if (open.length > 0) {
              const o = faults.pick(open);
              net.send(o.a, o.conn, { n: i });
            }
          }
        });
      }
      await s.run();
      return trace;
    };
    const a = await run(77);
    expect(a.length).toBeGreaterThan(100);
    expect(await run(77)).toEqual(a);
    expect(await run(78)).not.toEqual(a);
  });
});
