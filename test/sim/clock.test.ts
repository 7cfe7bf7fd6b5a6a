import { describe, expect, it } from 'vitest';
import { RealClock, SimClock } from '../../src/sim/clock.js';
import { Scheduler } from '../../src/sim/scheduler.js';

describe('SimClock', () => {
  it('follows virtual time and fires timers', async () => {
    const s = new Scheduler();
    const c = new SimClock(s, { offset: 1000 });
    const fired: number[] = [];
    c.setTimer(10, () => fired.push(c.now()));
    const h = c.setTimer(5, () => fired.push(-1));
    c.clearTimer(h);
    c.clearTimer(h);
    expect(c.activeTimers()).toBe(1);
    await s.run();
    expect(fired).toEqual([1010]);
    expect(s.now()).toBe(10);
    expect(c.activeTimers()).toBe(0);
  });

  it('a fast clock fires its timers early in virtual time; a slow one late', async () => {
    const s = new Scheduler();
    const fast = new SimClock(s, { rate: 2 });
    const slow = new SimClock(s, { rate: 0.5 });
    const at: Record<string, number> = {};
    fast.setTimer(10, () => (at.fast = s.now()));
    slow.setTimer(10, () => (at.slow = s.now()));
    await s.run();
    expect(at).toEqual({ fast: 5, slow: 20 });
    expect(fast.now()).toBe(40);
    expect(slow.now()).toBe(10);
  });

  it('setRate keeps local time continuous', async () => {
    const s = new Scheduler();
    const c = new SimClock(s);
    s.at(10, () => c.setRate(2));
    s.at(15, () => undefined);
    await s.run();
    expect(c.now()).toBe(20);
    expect(() => c.setRate(0)).toThrow(RangeError);
  });

  it('cancelAll stops every timer of a crashed node', async () => {
    const s = new Scheduler();
    const c = new SimClock(s);
    let fired = 0;
    for (let i = 1; i <= 3; i++) c.setTimer(i, () => fired++);
    c.cancelAll();
    await s.run();
    expect(fired).toBe(0);
  });
});

describe('RealClock', () => {
  it('fires and clears host timers', async () => {
    const c = new RealClock();
    const t0 = c.now();
    let cleared = false;
    const h = c.setTimer(1, () => (cleared = true));
    c.clearTimer(h);
    await new Promise<void>((resolve) => c.setTimer(5, resolve));
    expect(c.now() - t0).toBeGreaterThanOrEqual(4);
    expect(cleared).toBe(false);
  });
});
