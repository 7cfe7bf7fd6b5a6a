import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/sim/scheduler.js';

describe('Scheduler', () => {
  it('runs events in time order, FIFO among equal times', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(5, () => log.push('b5'));
    s.at(1.5, () => log.push('a1.5'));
    s.at(5, () => log.push('c5'));
    s.after(0, () => {
      log.push('d0');
      s.after(5, () => log.push('e5')); // inserted after b5 and c5, so runs after them
    });
    const r = await s.run();
    expect(log).toEqual(['d0', 'a1.5', 'b5', 'c5', 'e5']);
    expect(r).toEqual({ reason: 'idle', steps: 5, now: 5 });
    expect(s.now()).toBe(5);
  });

  it('cancels events and counts pending ones', async () => {
    const s = new Scheduler();
    const log: number[] = [];
    const h = s.at(2, () => log.push(2));
    s.at(3, () => log.push(3));
    expect(s.pending()).toBe(2);
    h.cancel();
    h.cancel();
    expect(s.pending()).toBe(1);
    expect(s.nextTime()).toBe(3);
    await s.run();
    expect(log).toEqual([3]);
    expect(s.pending()).toBe(0);
  });

  it('rejects scheduling in the past', () => {
    const s = new Scheduler();
    s.at(1, () => undefined);
    s.step();
    expect(() => s.at(0.5, () => undefined)).toThrow(RangeError);
    expect(() => s.after(-1, () => undefined)).toThrow(RangeError);
    expect(() => s.after(NaN, () => undefined)).toThrow(RangeError);
  });

  it('stops at until (advancing the clock) and at maxSteps', async () => {
    const s = new Scheduler();
    const log: number[] = [];
    for (let t = 1; t <= 10; t++) s.at(t, () => log.push(t));
    expect(await s.run({ until: 3.5 })).toEqual({ reason: 'until', steps: 3, now: 3.5 });
    expect(await s.run({ maxSteps: 2 })).toEqual({ reason: 'maxSteps', steps: 2, now: 5 });
    expect(await s.run({ until: 100 })).toEqual({ reason: 'until', steps: 5, now: 100 });
    expect(log).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('drains every microtask an event started before the next event', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    s.at(1, () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve();
        await new Promise<void>((r) => process.nextTick(r));
        log.push('chain done');
        s.after(0, () => log.push('scheduled from the chain'));
      })();
    });
    s.at(1, () => log.push('second event'));
    await s.run();
    expect(log).toEqual(['chain done', 'second event', 'scheduled from the chain']);
  });

  it('replays the same interleaving of events and promise continuations', async () => {
    const trace = async () => {
      const s = new Scheduler();
      const log: string[] = [];
      for (let i = 0; i < 20; i++) {
        s.at(i % 3, () => {
          log.push(`e${i}`);
          void Promise.resolve().then(() => log.push(`p${i}`)).then(() => s.after(i % 2, () => log.push(`f${i}`)));
        });
      }
      await s.run();
      return log;
    };
    expect(await trace()).toEqual(await trace());
  });

  it('rejects run() with an error thrown by an event or passed to fail()', async () => {
    const s = new Scheduler();
    s.at(1, () => {
      throw new Error('boom');
    }, 'bad');
    await expect(s.run()).rejects.toThrow('boom');
    expect(s.current).toBe('bad');

    const s2 = new Scheduler();
    const ran: number[] = [];
    s2.at(1, () => void Promise.resolve().then(() => s2.fail(new Error('async boom'))));
    s2.at(2, () => ran.push(2));
    await expect(s2.run()).rejects.toThrow('async boom');
    expect(ran).toEqual([]);
  });

  it('stop() ends the run after the current event; run() is not re-entrant', async () => {
    const s = new Scheduler();
    s.at(1, () => s.stop());
    s.at(2, () => undefined);
    const p = s.run();
    await expect(s.run()).rejects.toThrow(/re-entrant/);
    expect(await p).toMatchObject({ reason: 'stopped', steps: 1 });
    expect(await s.run()).toMatchObject({ reason: 'idle', steps: 1 });
  });

  // Speed is a benchmark's business, not a test's: this only checks a long run completes exactly.
  it('runs a long chain of events with promise work in between, step for step', async () => {
    const s = new Scheduler();
    const N = 200_000;
    let n = 0;
    const tick = () => {
      n++;
      if (n < N) s.after(0.5, tick);
      void Promise.resolve().then(() => undefined);
    };
    for (let i = 0; i < 8; i++) s.after(i * 0.1, tick);
    const r = await s.run({ maxSteps: N });
    expect(r.steps).toBe(N);
    expect(n).toBe(N);
  });
});
