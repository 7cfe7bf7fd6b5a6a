/**
 * A plain, deterministic description of a statechart, read from an XState v5 machine's state nodes:
 * its states (with nesting, initial children, final and parallel states, invoked actors) and every
 * transition (event, `after` delay, `always`, actor-done, wildcard), each with a stable key. The
 * exporters (JSON, Mermaid, SVG) and the model-based tests' coverage accounting all use it.
 */
import type { AnyStateMachine } from 'xstate';

export type StateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
export type TransitionKind = 'event' | 'always' | 'after' | 'done' | 'wildcard';

export interface StateInfo {
  /** XState's id: the machine id and the path, dotted (e.g. `follower.session.broadcast`) */
  id: string;
  key: string;
  path: string[];
  type: StateType;
  parent: string | null;
  children: string[];
  /** the initial child's id (compound states) */
  initial: string | null;
  entry: string[];
  exit: string[];
  invoke: { id: string; src: string }[];
}

export interface TransitionInfo {
  /** unique in the machine: `<source>|<eventType>|<index among that event's candidates>` */
  key: string;
  source: string;
  /** XState's event type: `''` for `always`, `xstate.after.<delay>.<state>`, `xstate.done.actor.<id>`, `*` */
  eventType: string;
  kind: TransitionKind;
  /** what a diagram shows: `EVENT`, `always`, `after(delay)`, `done(actor)` */
  event: string;
  delay: string | null;
  guard: string | null;
  /** target state ids; empty for a targetless (actions-only) transition */
  targets: string[];
  reenter: boolean;
  actions: string[];
}

export interface MachineModel {
  name: string;
  id: string;
  states: StateInfo[];
  transitions: TransitionInfo[];
}

/** A guard's or action's name as a diagram shows it; built-in combinators spelled out, inline functions as `(inline)`. */
export function guardLabel(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as { guards?: unknown[]; check?: { name?: string } };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((x) => guardLabel(x) ?? '?');
      const check = g.check?.name ?? '';
      if (check === 'checkNot') return `not ${parts.length === 1 ? parts[0] : `(${parts.join(' or ')})`}`;
      return parts.join(check === 'checkOr' ? ' or ' : ' and ');
    }
    return '(inline)';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return '(inline)';
}

export function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (action && (typeof action === 'object' || typeof action === 'function')) {
    const t = (action as { type?: unknown }).type;
    if (typeof t === 'string') return t;
  }
  return '(inline)';
}

/** Internal actions XState adds to implement `after` (schedule / cancel the timer event). */
function isTimerPlumbing(label: string): boolean {
  return label === 'xstate.raise' || label === 'xstate.cancel';
}

interface RawTransition {
  eventType: string;
  guard?: unknown;
  target?: { id: string }[] | undefined;
  reenter?: boolean;
  actions?: unknown[];
  delay?: unknown;
}

interface RawNode {
  id: string;
  key: string;
  path: string[];
  type: StateType;
  parent?: RawNode;
  states: Record<string, RawNode>;
  initial?: { target: { id: string }[] };
  entry: unknown[];
  exit: unknown[];
  invoke: { id: string; src: unknown }[];
  transitions: Map<string, RawTransition[]>;
  always?: RawTransition[];
}

function classify(eventType: string): TransitionKind {
  if (eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) return 'after';
  if (eventType.startsWith('xstate.done.')) return 'done';
  if (eventType.includes('*')) return 'wildcard';
  return 'event';
}

function eventLabel(t: RawTransition): string {
  const kind = classify(t.eventType);
  if (kind === 'always') return 'always';
  if (kind === 'after') return `after(${typeof t.delay === 'string' || typeof t.delay === 'number' ? t.delay : '?'})`;
  if (kind === 'done') {
    const m = /^xstate\.done\.actor\.(.*)$/.exec(t.eventType);
    return m ? `done(${m[1]})` : 'done';
  }
  return t.eventType;
}

export function describeMachine(name: string, machine: AnyStateMachine): MachineModel {
  const root = machine.root as unknown as RawNode;
  const states: StateInfo[] = [];
  const transitions: TransitionInfo[] = [];
  const visit = (node: RawNode): void => {
    const children = Object.values(node.states);
    states.push({
      id: node.id,
      key: node.key,
      path: [...node.path],
      type: node.type,
      parent: node.parent ? node.parent.id : null,
      children: children.map((c) => c.id),
      initial: node.type === 'compound' && node.initial?.target[0] ? node.initial.target[0].id : null,
      entry: node.entry.map(actionLabel).filter((a) => !isTimerPlumbing(a)),
      exit: node.exit.map(actionLabel).filter((a) => !isTimerPlumbing(a)),
      invoke: node.invoke.map((i) => ({ id: i.id, src: typeof i.src === 'string' ? i.src : '(inline)' })),
    });
    const add = (eventType: string, list: readonly RawTransition[]): void => {
      list.forEach((t, i) => {
        transitions.push({
          key: `${node.id}|${eventType}|${i}`,
          source: node.id,
          eventType,
          kind: classify(eventType),
          event: eventLabel(t),
          delay: classify(eventType) === 'after' ? String(t.delay) : null,
          guard: guardLabel(t.guard),
          targets: (t.target ?? []).map((s) => s.id),
          reenter: t.reenter === true,
          actions: (t.actions ?? []).map(actionLabel),
        });
      });
    };
    for (const [eventType, list] of node.transitions) add(eventType, list);
    if (node.always && node.always.length > 0) add('', node.always);
    for (const c of children) visit(c);
  };
  visit(root);
  return { name, id: root.id, states, transitions };
}

/** The machine's definition as JSON-safe data: XState's own `toJSON()`, plus `always` transitions, functions dropped. */
export function definitionOf(machine: AnyStateMachine): unknown {
  const root = machine.root as unknown as RawNode & { toJSON(): Record<string, unknown> };
  const withAlways = (node: RawNode, json: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) {
      if (k === 'states') {
        const states: Record<string, unknown> = {};
        for (const [key, child] of Object.entries(v as Record<string, Record<string, unknown>>)) {
          states[key] = withAlways(node.states[key]!, child);
        }
        out.states = states;
      } else out[k] = v;
    }
    out.always = (node.always ?? []).map((t) => (t as unknown as { toJSON(): unknown }).toJSON());
    return out;
  };
  return plain(withAlways(root, root.toJSON()));
}

/**
 * Deep copy keeping only JSON data (objects' own `toJSON` applied, as JSON.stringify does): guards
 * become their names, other functions are dropped (inline ones in action lists become `{type: '(inline)'}`),
 * bigints become decimal strings.
 */
export function plain(value: unknown): unknown {
  const text = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    if (key === 'guard') return guardLabel(v) ?? undefined;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'function') return Array.isArray(this) ? { type: actionLabel(v) } : undefined;
    return v;
  });
  return text === undefined ? null : (JSON.parse(text) as unknown);
}
