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
      on: { WORK: { actions: sendTo('role', { type: 'WORK' }) }, RELAY: { actions: sendTo('role', ({ event }) => ({ type: (event as unknown as { what: string }).what })) }, OFF: 'off' },
    },
  },
});

/** Starts the root machine and attaches the hub; `attached` counts XState inspections attached now. */
function run(hub: InspectionHub) {
  const actor = createActor(root, { id: 'peer-1' });
  actor.start();
  const inspections = { attached: 0, total: 0 };
  hub.attach({
    root: actor,
    inspect: (observer) => {
      inspections.attached++;
      inspections.total++;
      const sub = actor.system.inspect(observer);
      return {
        unsubscribe: () => {
          inspections.attached--;
          sub.unsubscribe();
        },
      };
    },
  });
  return Object.assign(actor, { inspections });
}

function sendToRole(actor: ReturnType<typeof createActor<typeof root>>, what: string) {
  actor.send({ type: 'RELAY', what } as never);
}

type Transition = Extract<InspectionRecord, { kind: 'transition' }>;

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
    // The invoked child is followed when the parent's snapshot that holds it is published.
    expect(kinds).toEqual(['actor-started:peer-1', 'transition:peer-1', 'actor-started:role', 'transition:role']);
    const t = hub.recent().find((r): r is Transition => r.kind === 'transition')!;
    // Nobody watched: the transition is recorded without the event that caused it.
    expect(t).toEqual({ kind: 'transition', seq: expect.any(Number), actor: 'peer-1', machine: 'root', from: ['root', 'root.off'], to: ['root', 'root.on'], t: 1005 });
    actor.send({ type: 'OFF' });
    expect(hub.views().map((v) => v.actor)).toEqual(['peer-1']);
    expect(hub.recent().slice(-2)).toMatchObject([
      { kind: 'actor-stopped', actor: 'role', machine: 'child' },
      { kind: 'transition', actor: 'peer-1', to: ['root', 'root.off'] },
    ]);
    expect(actor.inspections.total).toBe(0);
    actor.stop();
    expect(hub.views()).toEqual([]);
    expect(hub.recent().at(-1)).toMatchObject({ kind: 'actor-stopped', actor: 'peer-1' });
  });

  it('picks up the states of actors already running when it attaches', () => {
    const actor = createActor(root, { id: 'peer-1' });
    actor.start();
    actor.send({ type: 'ON' });
    actor.send({ type: 'WORK' });
    const hub = new InspectionHub();
    hub.attach({ root: actor, inspect: (o) => actor.system.inspect(o) });
    expect(hub.views()).toEqual([
      { actor: 'peer-1', machine: 'root', states: ['root', 'root.on'] },
      { actor: 'role', machine: 'child', states: ['child', 'child.busy'] },
    ]);
    actor.send({ type: 'REST' }); // not handled by root: nothing changes
    sendToRole(actor, 'REST');
    expect(hub.views()[1]!.states).toEqual(['child', 'child.idle']);
    hub.detach();
    actor.send({ type: 'OFF' });
    expect(hub.views()).toEqual([]);
    expect(hub.recent().some((r) => r.kind === 'actor-stopped')).toBe(false);
    actor.stop();
  });

  it('attaches XState inspection only while watched; streams events at a bounded rate, counting what it drops', () => {
    let now = 0;
    const hub = new InspectionHub({ now: () => now, eventsPerSecond: 5 });
    const actor = run(hub);
    actor.send({ type: 'TICK' }); // nobody watching: no event records kept
    expect(hub.recent().some((r) => r.kind === 'event')).toBe(false);
    expect(actor.inspections.attached).toBe(0);
    const seen: InspectionRecord[] = [];
    const sub = hub.records$.subscribe((r) => seen.push(r));
    const sub2 = hub.records$.subscribe(() => undefined);
    expect(actor.inspections).toEqual({ attached: 1, total: 1 });
    for (let i = 0; i < 20; i++) actor.send({ type: 'TICK' });
    expect(seen.filter((r) => r.kind === 'event')).toHaveLength(5);
    now = 1500;
    actor.send({ type: 'ON' });
    const dropped = seen.find((r) => r.kind === 'dropped');
    expect(dropped).toMatchObject({ kind: 'dropped', events: 15 });
    // Watched: a transition names its event, also in the ring kept for later pages.
    expect(seen.find((r): r is Transition => r.kind === 'transition')).toMatchObject({ actor: 'peer-1', event: 'ON' });
    expect(hub.recent().filter((r) => r.kind === 'transition').at(-1)).toMatchObject({ actor: 'peer-1', event: 'ON' });
    sub.unsubscribe();
    expect(actor.inspections.attached).toBe(1);
    sub2.unsubscribe();
    expect(actor.inspections.attached).toBe(0);
    const before = seen.length;
    actor.send({ type: 'OFF' });
    expect(seen.length).toBe(before);
    expect(hub.recent().filter((r) => r.kind === 'transition').at(-1)).not.toHaveProperty('event');
    // Sequence numbers increase across kept and streamed records.
    const seqs = seen.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    actor.stop();
  });

  it('follows children spawned later and does not turn a child’s failure into an unhandled error', () => {
    const failing = createMachine({ id: 'failing', initial: 'up', states: { up: { on: { BOOM: { actions: () => { throw new Error('boom'); } } } } } });
    const parent = setup({ actors: { failing } }).createMachine({
      id: 'parent',
      initial: 'idle',
      states: {
        idle: { on: { GO: 'running' } },
        running: {
          invoke: { id: 'learner-2', src: 'failing', onError: 'failed' },
          on: { BOOM: { actions: sendTo('learner-2', { type: 'BOOM' }) } },
        },
        failed: {},
      },
    });
    const actor = createActor(parent, { id: 'peer-1' });
    const errors: unknown[] = [];
    actor.subscribe({ error: (e) => errors.push(e) });
    actor.start();
    const hub = new InspectionHub();
    hub.attach({ root: actor, inspect: (o) => actor.system.inspect(o) });
    actor.send({ type: 'GO' });
    expect(hub.views().map((v) => v.actor)).toEqual(['peer-1', 'learner-2']);
    actor.send({ type: 'BOOM' });
    expect(actor.getSnapshot().value).toBe('failed');
    expect(errors).toEqual([]);
    expect(hub.views().map((v) => v.actor)).toEqual(['peer-1']);
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
