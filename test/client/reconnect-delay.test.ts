/**
 * The client's reconnect delay: every server once without waiting, then exponential backoff by
 * rounds; but while servers answer NotServing (an election), and for at most a second of it, short
 * jittered retries, so the first write after a failover does not wait out a doubled backoff.
 */
import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../src/client/client.js';

const o = { backoffMinMs: 50, backoffMaxMs: 1000 };

describe('reconnectDelayMs', () => {
  it('tries every server once at once, then backs off by rounds, doubling up to the cap', () => {
    const delays = Array.from({ length: 16 }, (_, i) => reconnectDelayMs(i + 1, 3, null, o, 0.5));
    expect(delays).toEqual([0, 0, 50, 100, 100, 100, 200, 200, 200, 400, 400, 400, 800, 800, 800, 1000]);
  });

  it('retries every 10-40 ms during the first second of NotServing answers', () => {
    for (const random of [0, 0.5, 0.999]) {
      for (const failures of [3, 7, 30]) {
        const d = reconnectDelayMs(failures, 3, 120, o, random);
        expect(d).toBeGreaterThanOrEqual(10);
        expect(d).toBeLessThan(40);
      }
    }
    expect(reconnectDelayMs(1, 3, 120, o, 0.5)).toBe(0);
  });

  it('backs off as usual once servers have not served for a second (no quorum: do not hammer them)', () => {
    expect(reconnectDelayMs(7, 3, 1000, o, 0)).toBe(200);
    expect(reconnectDelayMs(30, 3, 60_000, o, 0)).toBe(1000);
  });

  it('never waits longer than backoffMinMs while electing', () => {
    expect(reconnectDelayMs(9, 3, 10, { backoffMinMs: 5, backoffMaxMs: 100 }, 0.9)).toBe(5);
  });
});
