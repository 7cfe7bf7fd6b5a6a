/**
 * Coverage accounting for the model-based machine tests. The states and transitions of a machine
 * come from its definition (src/inspect/model.ts, the same enumeration the statechart docs use);
 * what a test reaches comes from XState's inspection API: every `@xstate.microstep` names the
 * transition objects it took and the snapshot it produced. `driveCovered` is the test harness's
 * `drive` (capturing io port, SimulatedClock) with that inspection wired in, plus `timer()` to fire
 * an `after` transition by sending its internal event explicitly.
 */
import { expect } from 'vitest';
import { createActor, SimulatedClock, type Actor, type AnyStateMachine, type EventFrom, type InputFrom, type InspectionEvent } from 'xstate';
import { describeMachine, type MachineModel } from '../../src/inspect/model.js';
import type { Effect, Io } from '../../machines/types.js';
import { takeEffects } from '../../src/testing/harness.js';

export class Coverage {
  readonly model: MachineModel;
  readonly states = new Set<string>();
  readonly transitions = new Set<string>();
  private readonly keys = new Map<object, string>();

  constructor(
    readonly name: string,
    readonly machine: AnyStateMachine,
  ) {
    this.model = describeMachine(name, machine);
    // the same walk and keys as describeMachine: `<source>|<eventType>|<index>`
    const visit = (node: RawNode): void => {
      for (const [eventType, list] of node.transitions) list.forEach((t, i) => this.keys.set(t, `${node.id}|${eventType}|${i}`));
      (node.always ?? []).forEach((t, i) => this.keys.set(t, `${node.id}||${i}`));
      for (const c of Object.values(node.states)) visit(c);
    };
    visit(machine.root as unknown as RawNode);
  }

  /** Records the active states of a snapshot value (every ancestor included). */
  noteValue(value: unknown): void {
    this.states.add(this.model.id);
    const walk = (v: unknown, prefix: string): void => {
      if (typeof v === 'string') {
        this.states.add(`${prefix}.${v}`);
        return;
      }
      for (const [k, sub] of Object.entries(v as Record<string, unknown>)) {
        this.states.add(`${prefix}.${k}`);
        walk(sub, `${prefix}.${k}`);
      }
    };
    walk(value, this.model.id);
  }

  inspect(ev: InspectionEvent): void {
    if (ev.type !== '@xstate.microstep') return;
    const taken = (ev as unknown as { _transitions: { source: { id: string } }[] })._transitions;
    for (const t of taken) {
      const key = this.keys.get(t);
      if (key !== undefined) {
        this.transitions.add(key);
        this.states.add(t.source.id);
      }
    }
    this.noteValue((ev.snapshot as unknown as { value: unknown }).value);
  }

  missing(): { states: string[]; transitions: string[] } {
    return {
      states: this.model.states.map((s) => s.id).filter((s) => !this.states.has(s)),
      transitions: this.model.transitions.map((t) => t.key).filter((t) => !this.transitions.has(t)),
    };
  }

  summary(): string {
    const m = this.missing();
    const st = this.model.states.length;
    const tr = this.model.transitions.length;
    return `${this.name}: states ${st - m.states.length}/${st}, transitions ${tr - m.transitions.length}/${tr}`;
  }

  /** Prints the coverage line and fails with the list of what was not reached. */
  assertComplete(): void {
    console.log(`coverage ${this.summary()}`);
    const m = this.missing();
    expect({ unreachedStates: m.states, untakenTransitions: m.transitions }).toEqual({ unreachedStates: [], untakenTransitions: [] });
  }
}

interface RawNode {
  id: string;
  states: Record<string, RawNode>;
  transitions: Map<string, object[]>;
  always?: object[];
}

/** Per machine, one Coverage for the whole test file (events of invoked/spawned children count for their machine). */
const registry = new Map<AnyStateMachine, Coverage>();

export function coverageOf(name: string, machine: AnyStateMachine): Coverage {
  let c = registry.get(machine);
  if (!c) {
    c = new Coverage(name, machine);
    registry.set(machine, c);
  }
  return c;
}

export interface Covered<M extends AnyStateMachine> {
  actor: Actor<M>;
  clock: SimulatedClock;
  effects: Effect[];
  send(event: EventFrom<M>): void;
  /** fires `after: { <delay>: ... }` of state `stateId` (e.g. 'follower.connecting.dialing') by sending its event */
  timer(delay: string, stateId: string): void;
  take<T extends Effect['type']>(type?: T): Extract<Effect, { type: T }>[];
  advance(ms: number): void;
  /** active leaf states as dotted paths without the machine id, e.g. 'session.broadcast' */
  states(): string[];
  /** the actor's status: 'active' or 'done' */
  status(): string;
}

export function driveCovered<M extends AnyStateMachine>(machine: M, input: Omit<InputFrom<M>, 'io'>): Covered<M> {
  const effects: Effect[] = [];
  const io: Io = (e) => effects.push(e);
  const clock = new SimulatedClock();
  const inspect = (ev: InspectionEvent): void => {
    const logic = (ev.actorRef as unknown as { logic?: AnyStateMachine }).logic;
    if (logic) registry.get(logic)?.inspect(ev);
  };
  const actor = createActor(machine, { input: { ...input, io } as InputFrom<M>, clock, inspect }) as Actor<M>;
  actor.start();
  registry.get(machine)?.noteValue((actor.getSnapshot() as { value: unknown }).value);
  return {
    actor,
    clock,
    effects,
    send: (event) => actor.send(event),
    timer: (delay, stateId) => actor.send({ type: `xstate.after.${delay}.${stateId}` } as unknown as EventFrom<M>),
    take: (type) => takeEffects(effects, type),
    advance: (ms) => clock.increment(ms),
    states: () => leaves((actor.getSnapshot() as { value: unknown }).value),
    status: () => (actor.getSnapshot() as { status: string }).status,
  };
}

export function leaves(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out.push(...leaves(v, `${prefix}${k}.`));
  return out;
}

/** @xstate/graph's default event serialiser is JSON.stringify, which rejects bigints (zxids). */
export function serializeEvent(event: unknown): string {
  return JSON.stringify(event, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v));
}
