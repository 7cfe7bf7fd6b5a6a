/**
 * InspectionHub: turns one server's actors into what the inspector page shows: the current state
 * configuration of every actor (peer, its role, on a leader one handler per learner), a ring of recent
 * transitions, and a live stream of records.
 *
 * Cheap on the hot path when nobody watches: the hub follows each state-machine actor through a
 * snapshot subscription (one call per macrostep that compares XState's active-node list by identity;
 * it only changes when a transition has a target) and follows children as they are spawned. XState's
 * full inspection (an event object for every event, action and microstep) is attached to the actor
 * system only while someone watches the stream; then ordinary events become records too, at a
 * bounded rate, and transitions name the event that caused them.
 */
import { Observable, Subject } from 'rxjs';
import type { InspectionEvent, Subscription } from 'xstate';

/** What the hub needs of an actor: XState's `ActorRef`, loosely typed (any machine). */
export interface InspectedActor {
  id?: string;
  logic?: { id?: unknown };
  getSnapshot(): unknown;
  subscribe(observer: { next?: (snapshot: unknown) => void; error?: (err: unknown) => void; complete?: () => void }): Subscription;
}

/** A running actor system: its root (followed with its spawned children) and XState's system-wide inspection. */
export interface InspectedSystem {
  root: InspectedActor;
  /** `actor.system.inspect`: attached only while someone watches */
  inspect(observer: (ev: InspectionEvent) => void): Subscription;
}

export interface ActorView {
  /** the actor's id: `peer-<sid>` for the root, `role` for the role machine, `learner-<sid>` on a leader */
  actor: string;
  /** the id of the machine it runs (`peer`, `looking`, `follower`, `leader`, `learnerHandler`) */
  machine: string;
  /** ids of the active state nodes, root first (the `data-state` ids of the diagrams) */
  states: string[];
}

export type InspectionRecord =
  /** `event` is the one that caused it, known only while someone watches */
  | { kind: 'transition'; seq: number; t: number; actor: string; machine: string; event?: string; from: string[]; to: string[] }
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
  children: unknown;
  sub: Subscription | null;
  /** type of the event being processed (set from XState's inspection while watched) */
  event: string | undefined;
}

interface SnapshotLike {
  status?: string;
  _nodes?: readonly { id: string }[];
  children?: Record<string, InspectedActor | undefined>;
}

export class InspectionHub {
  private readonly actors = new Map<InspectedActor, Tracked>();
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
  private system: InspectedSystem | null = null;
  private inspection: Subscription | null = null;

  /** every record as it happens (subscribe to watch; events flow only while someone does) */
  readonly records$: Observable<InspectionRecord>;

  constructor(o: InspectionHubOptions = {}) {
    this.recentMax = o.recent ?? 300;
    this.rate = o.eventsPerSecond ?? 60;
    this.now = o.now ?? Date.now;
    this.records$ = new Observable<InspectionRecord>((sub) => {
      if (this.watchers++ === 0) this.startInspection();
      const s = this.records.subscribe(sub);
      return () => {
        s.unsubscribe();
        if (--this.watchers === 0) this.stopInspection();
      };
    });
  }

  /** Follows a started actor system (the root now, its machine children as they are spawned). */
  attach(system: InspectedSystem): void {
    if (this.system) throw new Error('InspectionHub: already attached to an actor system');
    this.system = system;
    this.follow(system.root);
    if (this.watchers > 0) this.startInspection();
  }

  /** Stops following (the actors keep running). */
  detach(): void {
    this.stopInspection();
    for (const t of this.actors.values()) t.sub?.unsubscribe();
    this.actors.clear();
    this.system = null;
  }

  /** Current state configuration of every live actor, the root first. */
  views(): ActorView[] {
    return [...this.actors.values()].map((t) => ({ ...t.view, states: [...t.view.states] }));
  }

  /** The last transitions (and actor starts/stops), oldest first. */
  recent(): InspectionRecord[] {
    return [...this.ring];
  }

  private startInspection(): void {
    if (this.system && !this.inspection) this.inspection = this.system.inspect(this.onInspection);
  }

  private stopInspection(): void {
    this.inspection?.unsubscribe();
    this.inspection = null;
    for (const t of this.actors.values()) t.event = undefined;
  }

  private readonly onInspection = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.event') return;
    const tracked = this.actors.get(ev.actorRef as unknown as InspectedActor);
    if (!tracked) return;
    tracked.event = ev.event.type;
    this.onEvent(tracked, ev.event);
  };

  private follow(ref: InspectedActor): void {
    if (this.actors.has(ref)) return;
    const snap = ref.getSnapshot() as SnapshotLike;
    const nodes = snap._nodes;
    if (!nodes || snap.status !== 'active') return; // not a state machine (callbacks, promises), or over
    const machine = ref.logic?.id;
    const actor = ref.id ?? '?';
    const tracked: Tracked = { view: { actor, machine: typeof machine === 'string' ? machine : '?', states: ids(nodes) }, nodes, children: undefined, sub: null, event: undefined };
    this.actors.set(ref, tracked);
    this.push({ kind: 'actor-started', seq: 0, t: this.now(), actor, machine: tracked.view.machine, states: tracked.view.states }, true);
    // An error observer is required: without one XState reports a child's error as unhandled.
    tracked.sub = ref.subscribe({
      next: (s) => this.onSnapshot(ref, s as SnapshotLike),
      error: () => this.onStopped(ref),
      complete: () => this.onStopped(ref),
    });
    this.followChildren(tracked, snap);
  }

  private followChildren(tracked: Tracked, snap: SnapshotLike): void {
    if (snap.children === tracked.children) return;
    tracked.children = snap.children;
    for (const child of Object.values(snap.children ?? {})) if (child) this.follow(child);
  }

  private onSnapshot(ref: InspectedActor, snap: SnapshotLike): void {
    const tracked = this.actors.get(ref);
    if (!tracked) return;
    const nodes = snap._nodes;
    if (nodes && tracked.nodes !== nodes) {
      tracked.nodes = nodes;
      const from = tracked.view.states;
      const to = ids(nodes);
      if (!sameIds(from, to)) {
        tracked.view.states = to;
        const r: InspectionRecord = { kind: 'transition', seq: 0, t: this.now(), actor: tracked.view.actor, machine: tracked.view.machine, from, to };
        if (tracked.event !== undefined) r.event = tracked.event;
        this.push(r, true);
      }
    }
    this.followChildren(tracked, snap);
  }

  private onStopped(ref: InspectedActor): void {
    const tracked = this.actors.get(ref);
    if (!tracked) return;
    this.actors.delete(ref);
    tracked.sub?.unsubscribe();
    this.push({ kind: 'actor-stopped', seq: 0, t: this.now(), actor: tracked.view.actor, machine: tracked.view.machine }, true);
  }

  private onEvent(tracked: Tracked, event: { type: string; [k: string]: unknown }): void {
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
