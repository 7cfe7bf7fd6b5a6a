/**
 * Test-driving a statechart: start any of the machines with a capturing `io` port and XState's
 * SimulatedClock, send it events one by one, and look at the effects it asked for as plain data.
 *
 *   const h = drive(followerMachine, { self: 2, leader: 1, quorum, timing, facts });
 *   h.send({ type: 'LEADER_CONNECTED', leader: 1 });
 *   expect(h.take('send')[0].msg.type).toBe('FOLLOWERINFO');
 *   h.advance(timing.initLimit * timing.tickTime);   // fire timers
 */
import { createActor, SimulatedClock, type AnyStateMachine, type InputFrom, type EventFrom, type Actor } from 'xstate';
import type { Effect, Io } from '../../machines/types.js';

export interface Driven<M extends AnyStateMachine> {
  actor: Actor<M>;
  clock: SimulatedClock;
  /** every effect so far, in order */
  effects: Effect[];
  send(event: EventFrom<M>): void;
  /** removes and returns the effects so far, optionally only those of one type */
  take<T extends Effect['type']>(type?: T): Extract<Effect, { type: T }>[];
  /** advances simulated time, firing due timers */
  advance(ms: number): void;
  /** the active state as a dotted string list, e.g. ['session.discovery.awaitingLeaderInfo'] */
  states(): string[];
}

export function drive<M extends AnyStateMachine>(machine: M, input: Omit<InputFrom<M>, 'io'>): Driven<M> {
  const effects: Effect[] = [];
  const io: Io = (e) => effects.push(e);
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: { ...input, io } as InputFrom<M>, clock }) as Actor<M>;
  actor.start();
  return {
    actor,
    clock,
    effects,
    send: (event) => actor.send(event),
    take: (type) => takeEffects(effects, type),
    advance: (ms) => clock.increment(ms),
    states: () => flattenState((actor.getSnapshot() as { value: unknown }).value),
  };
}

/** Removes and returns the effects captured so far, optionally only those of one type, in order. */
export function takeEffects<T extends Effect['type']>(effects: Effect[], type?: T): Extract<Effect, { type: T }>[] {
  const picked: Effect[] = [];
  for (let i = 0; i < effects.length; ) {
    if (type === undefined || effects[i]!.type === type) picked.push(...effects.splice(i, 1));
    else i++;
  }
  return picked as Extract<Effect, { type: T }>[];
}

function flattenState(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out.push(...flattenState(v, `${prefix}${k}.`));
  return out;
}
