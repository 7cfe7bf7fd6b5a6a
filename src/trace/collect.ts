/**
 * Reads a simulator trace one line at a time and keeps only what the chart shows: a window of
 * drawable records (by virtual time with from/to, else the last N before the violation, or before
 * the end when there is none), the servers' status at the window's start, and the violation.
 * Memory is bounded by the window, so traces of any length can be streamed through it.
 */
import { parseTraceLine, sidsOf, stateValueText, type TraceRecord } from './records.js';

export const DEFAULT_MAX_EVENTS = 400;

export interface WindowOptions {
  /** first virtual time (ms) to show */
  from?: number;
  /** last virtual time (ms) to show */
  to?: number;
  /** at most this many drawn events (default DEFAULT_MAX_EVENTS) */
  maxEvents?: number;
}

/** What a server lane looks like at some point: its role and whether it is down. */
export interface LaneStatus {
  role: string;
  phase: string;
  leader: number | null;
  epoch: number | null;
  down: boolean;
}

export interface Violation {
  invariant: string;
  detail: string;
  step: number;
  time: number;
}

export interface ChartModel {
  /** server ids, ascending: one lane each */
  sids: number[];
  /** the drawn records, in trace order */
  events: TraceRecord[];
  /** each server's status just before events[0] */
  initial: Map<number, LaneStatus>;
  violation: Violation | null;
  /** whether the violation record is among `events` */
  violationShown: boolean;
  totalLines: number;
  badLines: number;
  /** drawable records in the whole trace (up to the violation) */
  drawable: number;
  /** drawable records inside the time window (all of them without from/to) */
  inWindow: number;
  firstT: number | null;
  lastT: number | null;
  /** how the window was chosen, in words, for the page */
  windowNote: string;
}

function initialStatus(): LaneStatus {
  return { role: 'unknown', phase: '', leader: null, epoch: null, down: false };
}

/** Applies one record to the lane statuses (role changes, crashes, restarts). */
export function applyStatus(statuses: Map<number, LaneStatus>, r: TraceRecord): void {
  const sid = typeof r.sid === 'number' ? r.sid : null;
  if (sid === null) return;
  const cur = statuses.get(sid) ?? initialStatus();
  if (r.kind === 'role') {
    statuses.set(sid, {
      role: String(r.role),
      phase: String(r.phase ?? ''),
      leader: typeof r.leader === 'number' ? r.leader : null,
      epoch: typeof r.epoch === 'number' ? r.epoch : null,
      down: false,
    });
  } else if (r.kind === 'fault' && r.fault === 'crash') {
    statuses.set(sid, { ...cur, down: true });
  } else if (r.kind === 'fault' && r.fault === 'restart') {
    statuses.set(sid, { ...cur, down: false, role: 'booting', phase: '' });
  }
}

/** Kinds that are never drawn: xstate events (they repeat the deliveries), connection set-up. */
const HIDDEN = new Set(['event', 'net.connect', 'net.accept']);

export class TraceCollector {
  private readonly sids = new Set<number>();
  private readonly lastState = new Map<string, string>();
  private readonly before = new Map<number, LaneStatus>();
  private ring: TraceRecord[] = [];
  private head = 0;
  private violation: Violation | null = null;
  private violationShown = false;
  private totalLines = 0;
  private badLines = 0;
  private drawable = 0;
  private inWindow = 0;
  private firstT: number | null = null;
  private lastT: number | null = null;
  private readonly max: number;
  private readonly windowed: boolean;

  constructor(private readonly o: WindowOptions = {}) {
    this.max = Math.max(1, o.maxEvents ?? DEFAULT_MAX_EVENTS);
    this.windowed = o.from !== undefined || o.to !== undefined;
  }

  /** True once nothing more can change the chart (the violation was seen, or the window is past). */
  done(): boolean {
    return this.violation !== null;
  }

  push(line: string): void {
    this.totalLines++;
    const r = parseTraceLine(line);
    if (!r) {
      if (line.trim() !== '') this.badLines++;
      return;
    }
    if (this.violation) return; // the run stopped there; anything after is teardown
    for (const s of sidsOf(r)) this.sids.add(s);
    this.firstT ??= r.t;
    this.lastT = r.t;
    if (r.kind === 'violation') {
      this.violation = {
        invariant: String(r.invariant),
        detail: String(r.detail ?? ''),
        step: typeof r.step === 'number' ? r.step : -1,
        time: typeof r.time === 'number' ? r.time : r.t,
      };
    }
    if (!this.isDrawable(r)) return;
    this.drawable++;
    if (this.windowed) {
      const inside = (this.o.from === undefined || r.t >= this.o.from) && (this.o.to === undefined || r.t <= this.o.to);
      if (!inside) {
        if (this.o.from !== undefined && r.t < this.o.from) applyStatus(this.before, r);
        return;
      }
      this.inWindow++;
      if (this.ring.length < this.max) this.ring.push(r);
      else if (r.kind === 'violation') this.ring[this.ring.length - 1] = r; // always show it
      if (r.kind === 'violation') this.violationShown = true;
      return;
    }
    this.inWindow++;
    if (this.ring.length < this.max) {
      this.ring.push(r);
    } else {
      applyStatus(this.before, this.ring[this.head]!);
      this.ring[this.head] = r;
      this.head = (this.head + 1) % this.max;
    }
    if (r.kind === 'violation') this.violationShown = true;
  }

  private isDrawable(r: TraceRecord): boolean {
    if (HIDDEN.has(r.kind)) return false;
    if (r.kind === 'state') {
      // Snapshots repeat on every event: only changes are drawn.
      const key = `${String(r.sid)}/${String(r.actor)}`;
      const text = stateValueText(r.value);
      if (this.lastState.get(key) === text) return false;
      this.lastState.set(key, text);
    }
    return true;
  }

  result(): ChartModel {
    const events = this.head === 0 ? this.ring : [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
    const initial = new Map<number, LaneStatus>();
    const sids = [...this.sids].sort((a, b) => a - b);
    for (const s of sids) initial.set(s, this.before.get(s) ?? initialStatus());
    return {
      sids,
      events,
      initial,
      violation: this.violation,
      violationShown: this.violationShown,
      totalLines: this.totalLines,
      badLines: this.badLines,
      drawable: this.drawable,
      inWindow: this.inWindow,
      firstT: this.firstT,
      lastT: this.lastT,
      windowNote: this.note(events),
    };
  }

  private note(events: TraceRecord[]): string {
    const n = events.length;
    const span = n > 0 ? ` (t=${events[0]!.t} to t=${events[n - 1]!.t} ms, steps ${events[0]!.step}..${events[n - 1]!.step})` : '';
    if (this.windowed) {
      const w = `t in [${this.o.from ?? '-∞'}, ${this.o.to ?? '∞'}] ms`;
      if (this.inWindow > n) return `Window ${w}: showing the first ${n} of ${this.inWindow} events in it${span}${this.violationShown ? ', plus the violation' : ''}; narrow the window or raise --max-events to see more.`;
      return `Window ${w}: showing all ${n} events in it${span}.`;
    }
    const end = this.violation ? 'the violation' : 'the end of the trace';
    if (this.drawable > n) return `Showing the last ${n} of ${this.drawable} events before ${end}${span}; use --from/--to (virtual ms) or --max-events for another window.`;
    return `Showing all ${n} events${span}.`;
  }
}

/** Collects a whole trace given as lines (tests, small traces). */
export function collectTrace(lines: Iterable<string>, o: WindowOptions = {}): ChartModel {
  const c = new TraceCollector(o);
  for (const l of lines) {
    c.push(l);
    if (c.done()) break;
  }
  return c.result();
}
