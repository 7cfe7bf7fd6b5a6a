import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Prng } from '../../src/sim/prng.js';

const draw = (p: Prng, n: number) => Array.from({ length: n }, () => p.nextU32());

describe('Prng', () => {
  it('is a pure function of its seed', () => {
    expect(draw(new Prng(42), 100)).toEqual(draw(new Prng(42), 100));
    expect(draw(new Prng(42), 10)).not.toEqual(draw(new Prng(43), 10));
    // 53-bit seeds differing only in the high word give different streams
    expect(draw(new Prng(2 ** 40), 10)).not.toEqual(draw(new Prng(0), 10));
    expect(draw(new Prng(-1), 10)).toEqual(draw(new Prng(-1), 10));
  });

  it('pins the stream so that seeds keep replaying the same runs across versions', () => {
    expect(draw(new Prng(1), 3)).toMatchInlineSnapshot(`
      [
        454431522,
        3907220456,
        3221970851,
      ]
    `);
  });

  it('rejects seeds that are not safe integers', () => {
    expect(() => new Prng(1.5)).toThrow(RangeError);
    expect(() => new Prng(2 ** 60)).toThrow(RangeError);
  });

  it('next() is in [0, 1) and roughly uniform', () => {
    const p = new Prng(7);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = p.next();
      if (!(x >= 0 && x < 1)) outside++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outside).toBe(0);
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(600);
  });

  it('int() is inclusive at both ends and stays in range', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 20 }), (seed, lo, width) => {
        const p = new Prng(seed);
        const seen = new Set<number>();
        for (let i = 0; i < 200; i++) {
          const v = p.int(lo, lo + width);
          expect(Number.isInteger(v) && v >= lo && v <= lo + width).toBe(true);
          seen.add(v);
        }
        if (width <= 5) expect(seen.size).toBe(width + 1);
      }),
    );
    expect(() => new Prng(1).int(3, 2)).toThrow(RangeError);
  });

  it('chance(), pick() and shuffle()', () => {
    const p = new Prng(9);
    expect(Array.from({ length: 100 }, () => p.chance(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 100 }, () => p.chance(1)).every(Boolean)).toBe(true);
    const hits = Array.from({ length: 10_000 }, () => p.chance(0.3)).filter(Boolean).length;
    expect(Math.abs(hits - 3000)).toBeLessThan(250);
    expect(['a', 'b', 'c']).toContain(p.pick(['a', 'b', 'c']));
    expect(() => p.pick([])).toThrow(RangeError);
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = new Prng(3).shuffle([...xs]);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(xs);
    expect(shuffled).not.toEqual(xs);
    expect(new Prng(3).shuffle([...xs])).toEqual(shuffled);
  });

  it('fork(label) depends on the seed and label only, and does not perturb the parent', () => {
    const a = new Prng(5);
    const b = new Prng(5);
    draw(b, 37); // the parent's use must not shift its children
    expect(draw(a.fork('net'), 20)).toEqual(draw(b.fork('net'), 20));
    expect(draw(a.fork('net'), 5)).not.toEqual(draw(a.fork('disk'), 5));
    expect(draw(a.fork('net'), 5)).not.toEqual(draw(new Prng(6).fork('net'), 5));
    expect(draw(a.fork('x').fork('y'), 5)).not.toEqual(draw(a.fork('y').fork('x'), 5));
    const c = new Prng(5);
    c.fork('net');
    expect(draw(c, 10)).toEqual(draw(new Prng(5), 10));
  });

  it('forked streams are not correlated with the parent', () => {
    const p = new Prng(11);
    const q = p.fork('child');
    let same = 0;
    for (let i = 0; i < 10_000; i++) if ((p.nextU32() & 1) === (q.nextU32() & 1)) same++;
    expect(Math.abs(same - 5000)).toBeLessThan(300);
  });
});
