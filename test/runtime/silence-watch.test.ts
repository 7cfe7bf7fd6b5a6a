/**
 * SilenceWatches: a peer is reported silent exactly when nothing came from it for the watch's limit,
 * however the messages fall; replaced and removed watches never fire; an old owner cannot remove a
 * newer watch; a timer that fires late (this process stalled) lets what arrived meanwhile count before
 * it reports silence. Driven by a fake clock.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SilenceWatches } from '../../src/runtime/silence-watch.js';
import type { Clock } from '../../src/runtime/ports.js';

class FakeClock implements Clock {
  t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time to `to`, firing due timers in order. */
  advanceTo(to: number): void {
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].at <= to && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = to;
  }
  /** Time passes with no timer firing (the process is stalled); the overdue ones fire late, at the next advanceTo. */
  stall(ms: number): void {
    this.t += ms;
  }
  pending(): number {
    return this.timers.size;
  }
}

function setup() {
  const clock = new FakeClock();
  const silent: { sid: number; at: number }[] = [];
  const w = new SilenceWatches(clock, (sid) => silent.push({ sid, at: clock.now() }));
  return { clock, silent, w };
}

describe('SilenceWatches', () => {
  it('fires once, exactly when the last message is `ms` old', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.array(fc.integer({ min: 0, max: 20000 }), { maxLength: 30 }), (ms, times) => {
        const { clock, silent, w } = setup();
        w.watch(2, ms, 'a');
        let last = 0;
        for (const t of [...times].sort((a, b) => a - b)) {
          clock.advanceTo(t);
          if (silent.length > 0) break; // silent already: later messages are not watched
          w.heard(2);
          last = t;
        }
        clock.advanceTo(30000);
        expect(silent).toEqual([{ sid: 2, at: last + ms }]);
        expect(w.watched()).toEqual([]);
        expect(clock.pending()).toBe(0);
      }),
    );
  });

  it('a late timer (this process stalled) reads what arrived meanwhile before it reports silence', () => {
    const { clock, silent, w } = setup();
    w.watch(2, 100, 'a');
    clock.stall(1000); // no timer fired: the peer's messages wait unread in the socket
    clock.advanceTo(1000); // the overdue timer fires late: it re-checks after the I/O instead of reporting
    expect(silent).toEqual([]);
    w.heard(2); // the poll phase reads the peer's message
    clock.advanceTo(1050);
    expect(silent).toEqual([]);
    clock.advanceTo(2000);
    expect(silent).toEqual([{ sid: 2, at: 1100 }]);

    w.watch(3, 100, 'b');
    clock.stall(500);
    clock.advanceTo(2500);
    expect(silent).toHaveLength(1);
    clock.advanceTo(2501); // nothing arrived meanwhile: silent right after the re-check
    expect(silent).toEqual([
      { sid: 2, at: 1100 },
      { sid: 3, at: 2501 },
    ]);
    // A timer a little late (under a tenth of the limit, and under 50 ms) reports at once.
    w.watch(4, 1000, 'c');
    clock.stall(1040); // due at 3501, fires at 3541
    clock.advanceTo(3541);
    expect(silent[2]).toEqual({ sid: 4, at: 3541 });
    expect(clock.pending()).toBe(0);
  });

  it('messages from other peers do not count; watches are independent', () => {
    const { clock, silent, w } = setup();
    w.watch(2, 100, 'a');
    w.watch(3, 150, 'b');
    clock.advanceTo(90);
    w.heard(3);
    w.heard(4);
    clock.advanceTo(1000);
    expect(silent).toEqual([
      { sid: 2, at: 100 },
      { sid: 3, at: 240 },
    ]);
  });

  it('a new watch replaces the old (new limit, from now); only the current owner can remove it', () => {
    const { clock, silent, w } = setup();
    w.watch(2, 100, 'old');
    clock.advanceTo(50);
    w.watch(2, 300, 'new');
    w.unwatch(2, 'old'); // a replaced handler leaving: must not end the new watch
    clock.advanceTo(200);
    expect(silent).toEqual([]);
    clock.advanceTo(400);
    expect(silent).toEqual([{ sid: 2, at: 350 }]);
    w.watch(2, 100, 'x');
    w.unwatch(2, 'x');
    w.watch(3, 100, 'y');
    w.clearAll();
    clock.advanceTo(1000);
    expect(silent).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });
});
