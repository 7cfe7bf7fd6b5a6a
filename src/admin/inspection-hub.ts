/**
 * InspectionHub: turns one server's XState inspection events into what the inspector page shows:
 * the current state configuration of every actor (peer, its role, on a leader one handler per
 * learner), a ring of recent transitions, and a live stream of records. Cheap on the hot path: a
 * state change is noticed by the identity of XState's active-node list, which only changes when a
 * transition has a target, and ordinary events become records only while someone is watching, at a
 * bounded rate (the rest are counted as dropped).
 */
import { Observable, Subject } from 'rxjs';
import type { ActorRefLike, InspectionEvent } from 'xstate';

type Ref = ActorRefLike & { id?: string; logic?: { id?: unknown } };

export interface ActorView {
  /** the actor's id: `peer-<sid>` for the root, `role` for the role machine, `learner-<sid>` on a leader */
  actor: string;
  /** the id of the machine it runs (`peer`, `looking`, `follower`, `leader`, `learnerHandler`) */
  machine: string;
  /** ids of the active state nodes, root first (the `data-state` ids of the diagrams) */
  states: string[];
}

export type InspectionRecord =
  | { kind: 'transition'; seq: number; t: number; actor: string; machine: string; event: string; from: string[]; to: string[] }
  | { kind: 'event'; seq: number; t: number; actor: string; machine: string; event: string }
  | { kind: 'actor-started'; seq: number; t: number; actor: string; machine: string; states: string[] }
  | { kind: 'actor-stopped'; seq: number; t: number; actor: string; machine: string }
  | { kind: 'dropped'; seq: number; t: number; events: number };

export interface InspectionHubOptions {
  /** transitions kept for a page that connects later */
  recent?: number;
  /** most ordinary event records per second while watched (transitions are never dropped) */
  eventsPerSecond?: number;
  now?: () => number;
}

interface Tracked {
  view: ActorView;
  nodes: unknown;
}

interface SnapshotLike {
  status?: string;
  _nodes?: readonly { id: string }[];
}

export class InspectionHub {
  private readonly actors = new Map<Ref, Tracked>();
  private readonly ring: InspectionRecord[] = [];
  private readonly records = new Subject<InspectionRecord>();
  private seq = 0;
  private readonly recentMax: number;
  private readonly rate: number;
  private readonly now: () => number;
  private windowStart = 0;
  private windowCount = 0;
  private dropped = 0;
  private watchers = 0;

  /** every record as it happens (subscribe to watch; events flow only while someone does) */
  readonly records$: Observable<InspectionRecord>;

  constructor(o: InspectionHubOptions = {}) {
    this.recentMax = o.recent ?? 300;
    this.rate = o.eventsPerSecond ?? 60;
    this.now = o.now ?? Date.now;
    this.records$ = new Observable<InspectionRecord>((sub) => {
      this.watchers++;
      const s = this.records.subscribe(sub);
      return () => {
        this.watchers--;
        s.unsubscribe();
      };
    });
  }

  /** The callback to give XState (`createActor(m, { inspect })`, ZabNode's `inspect` option). */
  readonly inspect = (ev: InspectionEvent): void => {
    switch (ev.type) {
      case '@xstate.snapshot':
        this.onSnapshot(ev.actorRef, ev.snapshot as SnapshotLike, ev.event.type);
        return;
      case '@xstate.event':
        if (this.watchers > 0 && this.actors.has(ev.actorRef)) this.onEvent(ev.actorRef, ev.event);
        return;
      default:
        return;
    }
  };

  /** Current state configuration of every live actor, the root first. */
  views(): ActorView[] {
    return [...this.actors.values()].map((t) => ({ ...t.view, states: [...t.view.states] }));
  }

  /** The last transitions (and actor starts/stops), oldest first. */
  recent(): InspectionRecord[] {
    return [...this.ring];
  }

  private onSnapshot(ref: Ref, snap: SnapshotLike, eventType: string): void {
    const nodes = snap._nodes;
    if (!nodes) return; // not a state machine (callbacks, promises)
    let tracked = this.actors.get(ref);
    if (snap.status === 'stopped' || snap.status === 'done' || snap.status === 'error') {
      if (tracked) {
        this.actors.delete(ref);
        this.push({ kind: 'actor-stopped', seq: 0, t: this.now(), actor: tracked.view.actor, machine: tracked.view.machine }, true);
      }
      return;
    }
    if (!tracked) {
      const machine = ref.logic?.id;
      const actor = ref.id ?? '?';
      tracked = { view: { actor, machine: typeof machine === 'string' ? machine : '?', states: ids(nodes) }, nodes };
      this.actors.set(ref, tracked);
      this.push({ kind: 'actor-started', seq: 0, t: this.now(), actor, machine: tracked.view.machine, states: tracked.view.states }, true);
      return;
    }
    if (tracked.nodes === nodes) return;
    tracked.nodes = nodes;
    const from = tracked.view.states;
    const to = ids(nodes);
    if (sameIds(from, to)) return;
    tracked.view.states = to;
    this.push({ kind: 'transition', seq: 0, t: this.now(), actor: tracked.view.actor, machine: tracked.view.machine, event: eventType, from, to }, true);
  }

  private onEvent(ref: Ref, event: { type: string; [k: string]: unknown }): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      if (this.dropped > 0) this.push({ kind: 'dropped', seq: 0, t, events: this.dropped }, false);
      this.windowStart = t;
      this.windowCount = 0;
      this.dropped = 0;
    }
    if (this.windowCount >= this.rate) {
      this.dropped++;
      return;
    }
    this.windowCount++;
    const tracked = this.actors.get(ref)!;
    this.push({ kind: 'event', seq: 0, t, actor: tracked.view.actor, machine: tracked.view.machine, event: describeEvent(event) }, false);
  }

  private push(r: InspectionRecord, keep: boolean): void {
    r.seq = ++this.seq;
    if (keep) {
      this.ring.push(r);
      if (this.ring.length > this.recentMax) this.ring.splice(0, this.ring.length - this.recentMax);
    }
    if (this.watchers > 0) this.records.next(r);
  }
}

function ids(nodes: readonly { id: string }[]): string[] {
  return nodes.map((n) => n.id);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `QUORUM_MESSAGE ACK from 2`, `NOTIFICATION from 3 (leader 3)`, `TIMER`: what a reader needs in one line. */
export function describeEvent(event: { type: string; [k: string]: unknown }): string {
  const parts = [event.type];
  const msg = event.msg as { type?: unknown; leader?: unknown; zxid?: unknown; txns?: unknown } | undefined;
  if (msg && typeof msg.type === 'string') parts.push(msg.type);
  if (msg && Array.isArray(msg.txns)) parts.push(`x${msg.txns.length}`);
  if (typeof event.from === 'number') parts.push(`from ${event.from}`);
  if (typeof event.sid === 'number') parts.push(`sid ${event.sid}`);
  if (typeof event.leader === 'number') parts.push(`leader ${event.leader}`);
  if (msg && typeof msg.leader === 'number' && event.type === 'NOTIFICATION') parts.push(`(votes ${msg.leader})`);
  if (Array.isArray(event.requests)) parts.push(`x${event.requests.length}`);
  return parts.join(' ');
}
