/**
 * Virtual clock and event queue for the deterministic simulator. Time is virtual milliseconds
 * (fractional allowed) and only moves when the next event is taken. Events at equal times run in
 * insertion order. Between events the run loop waits for a macrotask boundary, so every promise
 * continuation an event set off (storage ports are async) settles before the next event: the
 * interleaving depends on the seed only, never on how fast the host is.
 */

export interface EventHandle {
  /** Virtual time at which the event runs. */
  readonly time: number;
  /** Removes the event if it has not run yet; harmless afterwards. */
  cancel(): void;
}

export interface RunOptions {
  /** Simulate up to this time: stop before any later event, with the clock advanced to it (even when idle). */
  until?: number;
  /** Stop after this many events. */
  maxSteps?: number;
}

export interface RunResult {
  /** idle: no events left (no `until` given); until/maxSteps: that limit was reached; stopped: stop() was called. */
  reason: 'idle' | 'until' | 'maxSteps' | 'stopped';
  steps: number;
  now: number;
}

interface Entry {
  time: number;
  seq: number;
  fn: () => void;
  label: string | undefined;
  cancelled: boolean;
}

export class Scheduler {
  private time = 0;
  private seq = 0;
  private live = 0;
  private executed = 0;
  private readonly heap: Entry[] = [];
  private running = false;
  private stopRequested = false;
  private failure: { error: unknown } | null = null;
  /** Label of the event being run, for diagnostics. */
  current: string | undefined;

  now(): number {
    return this.time;
  }

  /** Events run so far, over all run()/step() calls. */
  steps(): number {
    return this.executed;
  }

  /** Events waiting to run. */
  pending(): number {
    return this.live;
  }

  /** Runs fn at absolute virtual time `time` (>= now). */
  at(time: number, fn: () => void, label?: string): EventHandle {
    if (Number.isNaN(time) || time < this.time) throw new RangeError(`cannot schedule at ${time}: now is ${this.time}`);
    const e: Entry = { time, seq: this.seq++, fn, label, cancelled: false };
    this.push(e);
    this.live++;
    return {
      time,
      cancel: () => {
        if (!e.cancelled) {
          e.cancelled = true;
          this.live--;
        }
      },
    };
  }

  after(delay: number, fn: () => void, label?: string): EventHandle {
    if (!(delay >= 0)) throw new RangeError(`negative or NaN delay: ${delay}`);
    return this.at(this.time + delay, fn, label);
  }

  /** Time of the next live event, or undefined when idle. */
  nextTime(): number | undefined {
    return this.peekLive()?.time;
  }

  /**
   * Runs one event synchronously, without draining microtasks (for tests of purely synchronous
   * components). Returns false when idle.
   */
  step(): boolean {
    const e = this.peekLive();
    if (!e) return false;
    this.pop();
    this.live--;
    e.cancelled = true;
    this.time = e.time;
    this.current = e.label;
    this.executed++;
    e.fn();
    return true;
  }

  /**
   * Runs events in order until idle or a limit. Rejects with the first error an event throws or
   * that was passed to fail(); the failing event's label is in `current`.
   */
  run(opts: RunOptions = {}): Promise<RunResult> {
    if (this.running) return Promise.reject(new Error('Scheduler.run is not re-entrant'));
    this.running = true;
    this.stopRequested = false;
    let steps = 0;
    return new Promise<RunResult>((resolve, reject) => {
      const finish = (reason: RunResult['reason']): void => {
        this.running = false;
        resolve({ reason, steps, now: this.time });
      };
      // One event per setImmediate callback: Node drains the microtask queue (and nextTicks)
      // after each callback, so everything the event set off settles before the next one.
      const tick = (): void => {
        try {
          this.throwIfFailed();
          if (this.stopRequested) return finish('stopped');
          if (opts.maxSteps !== undefined && steps >= opts.maxSteps) return finish('maxSteps');
          const e = this.peekLive();
          if (opts.until !== undefined && (!e || e.time > opts.until)) {
            this.time = Math.max(this.time, opts.until);
            return finish('until');
          }
          if (!e) return finish('idle');
          this.step();
          steps++;
          setImmediate(tick);
        } catch (err) {
          this.running = false;
          reject(err);
        }
      };
      setImmediate(tick); // let anything started before run() settle first
    });
  }

  /** Makes run() stop after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Reports an error raised where it cannot propagate (a promise continuation, a callback):
   * run() rejects with it before taking the next event. The first failure wins.
   */
  fail(error: unknown): void {
    if (!this.failure) this.failure = { error };
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  // ---- binary min-heap on (time, seq); cancelled entries are dropped lazily ----

  private peekLive(): Entry | undefined {
    while (this.heap.length > 0 && (this.heap[0] as Entry).cancelled) this.pop();
    return this.heap[0];
  }

  private static less(a: Entry, b: Entry): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p] as Entry;
      if (!Scheduler.less(e, pe)) break;
      h[i] = pe;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && Scheduler.less(h[r] as Entry, h[l] as Entry) ? r : l;
      if (!Scheduler.less(h[c] as Entry, last)) break;
      h[i] = h[c] as Entry;
      i = c;
    }
    h[i] = last;
  }
}
