import { describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, sendTo, setup } from 'xstate';
import { describeEvent, InspectionHub, type InspectionRecord } from '../../src/admin/inspection-hub.js';

const child = createMachine({ id: 'child', initial: 'idle', states: { idle: { on: { WORK: 'busy' } }, busy: { on: { REST: 'idle' } } } });

const root = setup({ actors: { child } }).createMachine({
  id: 'root',
  context: { n: 0 },
  initial: 'off',
  states: {
    off: { on: { TICK: { actions: assign({ n: ({ context }) => context.n + 1 }) }, ON: 'on' } },
    on: {
      invoke: { id: 'role', src: 'child' },
      on: { WORK: { actions: sendTo('role', { type: 'WORK' }) }, OFF: 'off' },
    },
  },
});

function run(hub: InspectionHub) {
  const actor = createActor(root, { id: 'peer-1', inspect: hub.inspect });
  actor.start();
  return actor;
}

describe('InspectionHub', () => {
  it('tracks every actor’s active states and records only real state changes', () => {
    let now = 1000;
    const hub = new InspectionHub({ now: () => now });
    const actor = run(hub);
    actor.send({ type: 'TICK' });
    actor.send({ type: 'TICK' });
    expect(hub.recent().filter((r) => r.kind === 'transition')).toEqual([]);
    now = 1005;
    actor.send({ type: 'ON' });
    actor.send({ type: 'WORK' });
    expect(hub.views()).toEqual([
      { actor: 'peer-1', machine: 'root', states: ['root', 'root.on'] },
      { actor: 'role', machine: 'child', states: ['child', 'child.busy'] },
    ]);
    const kinds = hub.recent().map((r) => `${r.kind}:${'actor' in r ? r.actor : ''}`);
    // XState starts the invoked child before it publishes the parent's new snapshot.
    expect(kinds).toEqual(['actor-started:peer-1', 'actor-started:role', 'transition:peer-1', 'transition:role']);
    const t = hub.recent().find((r): r is Extract<InspectionRecord, { kind: 'transition' }> => r.kind === 'transition')!;
    expect(t).toMatchObject({ actor: 'peer-1', event: 'ON', from: ['root', 'root.off'], to: ['root', 'root.on'], t: 1005 });
    actor.send({ type: 'OFF' });
    expect(hub.views().map((v) => v.actor)).toEqual(['peer-1']);
    expect(hub.recent().slice(-2)).toMatchObject([
      { kind: 'actor-stopped', actor: 'role', machine: 'child' },
      { kind: 'transition', actor: 'peer-1', event: 'OFF', to: ['root', 'root.off'] },
    ]);
    actor.stop();
  });

  it('streams events only to watchers, at a bounded rate, counting what it drops', () => {
    let now = 0;
    const hub = new InspectionHub({ now: () => now, eventsPerSecond: 5 });
    const actor = run(hub);
    actor.send({ type: 'TICK' }); // nobody watching: no event records kept
    expect(hub.recent().some((r) => r.kind === 'event')).toBe(false);
    const seen: InspectionRecord[] = [];
    const sub = hub.records$.subscribe((r) => seen.push(r));
    for (let i = 0; i < 20; i++) actor.send({ type: 'TICK' });
    expect(seen.filter((r) => r.kind === 'event')).toHaveLength(5);
    now = 1500;
    actor.send({ type: 'ON' });
    const dropped = seen.find((r) => r.kind === 'dropped');
    expect(dropped).toMatchObject({ kind: 'dropped', events: 15 });
    expect(seen.some((r) => r.kind === 'transition' && r.event === 'ON')).toBe(true);
    sub.unsubscribe();
    const before = seen.length;
    actor.send({ type: 'OFF' });
    expect(seen.length).toBe(before);
    // Sequence numbers increase across kept and streamed records.
    const seqs = seen.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    actor.stop();
  });

  it('keeps a bounded ring of recent transitions', () => {
    const hub = new InspectionHub({ recent: 4 });
    const actor = run(hub);
    for (let i = 0; i < 10; i++) {
      actor.send({ type: 'ON' });
      actor.send({ type: 'OFF' });
    }
    expect(hub.recent()).toHaveLength(4);
    actor.stop();
  });

  it('describes protocol events in one line', () => {
    expect(describeEvent({ type: 'QUORUM_MESSAGE', from: 2, msg: { type: 'PROPOSAL', txns: [1, 2, 3] } })).toBe('QUORUM_MESSAGE PROPOSAL x3 from 2');
    expect(describeEvent({ type: 'NOTIFICATION', from: 3, msg: { type: 'NOTIFICATION', leader: 3 } })).toBe('NOTIFICATION NOTIFICATION from 3 (votes 3)');
    expect(describeEvent({ type: 'CLIENT_REQUESTS', requests: [1, 2] })).toBe('CLIENT_REQUESTS x2');
    expect(describeEvent({ type: 'PEER_DISCONNECTED', sid: 4 })).toBe('PEER_DISCONNECTED sid 4');
  });
});
