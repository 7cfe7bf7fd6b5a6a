/**
 * Clock port for the runtime: local time and one-shot timers. The simulated clock runs on the
 * scheduler's virtual time, optionally skewed (a node whose clock runs fast fires its timers
 * early); the real clock uses the host's monotonic time and setTimeout.
 */
import type { EventHandle, Scheduler } from './scheduler.js';

/** Opaque: only the clock that issued it understands it. */
export interface TimerHandle {
  readonly __timerHandle: true;
}

export interface Clock {
  /** Local monotonic time in ms. Only differences are meaningful. */
  now(): number;
  /** Calls fn once after delayMs of local time. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer that has not fired; harmless afterwards or twice. */
  clearTimer(handle: TimerHandle): void;
}

export interface SimClockOptions {
  /** Local ms per virtual ms: 1.1 runs 10% fast (timers fire early), 0.9 slow. Default 1. */
  rate?: number;
  /** Local time at virtual time 0 (different nodes need not agree). Default 0. */
  offset?: number;
}

interface SimTimer extends TimerHandle {
  event: EventHandle;
}

export class SimClock implements Clock {
  private rate: number;
  /** Local time = anchorLocal + (virtual - anchorVirtual) * rate. */
  private anchorVirtual: number;
  private anchorLocal: number;
  private readonly timers = new Set<SimTimer>();

  constructor(
    private readonly scheduler: Scheduler,
    opts: SimClockOptions = {},
  ) {
    this.rate = checkRate(opts.rate ?? 1);
    this.anchorVirtual = scheduler.now();
    this.anchorLocal = (opts.offset ?? 0) + scheduler.now() * this.rate;
  }

  now(): number {
    return this.anchorLocal + (this.scheduler.now() - this.anchorVirtual) * this.rate;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = { __timerHandle: true } as SimTimer;
    timer.event = this.scheduler.after(Math.max(0, delayMs) / this.rate, () => {
      this.timers.delete(timer);
      fn();
    }, 'timer');
    this.timers.add(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as SimTimer;
    if (this.timers.delete(timer)) timer.event.cancel();
  }

  /** Changes the skew from now on; timers already set keep their virtual deadlines. */
  setRate(rate: number): void {
    this.anchorLocal = this.now();
    this.anchorVirtual = this.scheduler.now();
    this.rate = checkRate(rate);
  }

  /** Timers not yet fired or cleared. */
  activeTimers(): number {
    return this.timers.size;
  }

  /** The node crashed: none of its timers may fire. */
  cancelAll(): void {
    for (const t of this.timers) t.event.cancel();
    this.timers.clear();
  }
}

function checkRate(rate: number): number {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`clock rate must be positive: ${rate}`);
  return rate;
}

interface RealTimer extends TimerHandle {
  timeout: ReturnType<typeof setTimeout>;
}

/** Host time. (Lives here until the runtime package takes it over.) */
export class RealClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    return { __timerHandle: true, timeout: setTimeout(fn, Math.max(0, delayMs)) } as RealTimer;
  }

  clearTimer(handle: TimerHandle): void {
    clearTimeout((handle as RealTimer).timeout);
  }
}
