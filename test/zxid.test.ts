import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_COUNTER,
  MAX_EPOCH,
  ZXID_ZERO,
  compareZxid,
  counterOf,
  epochOf,
  epochStart,
  formatZxid,
  isCounterExhausted,
  isZxid,
  makeZxid,
  maxZxid,
  nextZxid,
  parseZxid,
} from '../src/zxid.js';

const epoch = fc.integer({ min: 0, max: MAX_EPOCH });
const counter = fc.integer({ min: 0, max: MAX_COUNTER });
const zxid = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('makeZxid / epochOf / counterOf', () => {
  it('packs epoch in the high 32 bits and counter in the low 32 bits', () => {
    expect(makeZxid(1, 1)).toBe(0x100000001n);
    expect(makeZxid(0, 0)).toBe(ZXID_ZERO);
    expect(makeZxid(MAX_EPOCH, MAX_COUNTER)).toBe((1n << 64n) - 1n);
    expect(epochOf(0x500000007n)).toBe(5);
    expect(counterOf(0x500000007n)).toBe(7);
    expect(epochStart(3)).toBe(0x300000000n);
  });

  it('round-trips for every epoch and counter', () => {
    fc.assert(
      fc.property(epoch, counter, (e, c) => {
        const z = makeZxid(e, c);
        expect(epochOf(z)).toBe(e);
        expect(counterOf(z)).toBe(c);
        expect(isZxid(z)).toBe(true);
      }),
    );
  });

  it('splits any 64-bit zxid losslessly', () => {
    fc.assert(
      fc.property(zxid, (z) => {
        expect(makeZxid(epochOf(z), counterOf(z))).toBe(z);
      }),
    );
  });

  it('rejects out-of-range or non-integer parts', () => {
    for (const bad of [-1, MAX_EPOCH + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => makeZxid(bad, 0)).toThrow(RangeError);
      expect(() => makeZxid(0, bad)).toThrow(RangeError);
    }
    expect(() => makeZxid(-1, 0)).toThrow(/epoch out of range: -1/);
    expect(() => makeZxid(0, 2 ** 32)).toThrow(/counter out of range/);
  });
});

describe('ordering', () => {
  it('compareZxid equals lexicographic (epoch, counter) order', () => {
    fc.assert(
      fc.property(epoch, counter, epoch, counter, (e1, c1, e2, c2) => {
        const lex = e1 !== e2 ? Math.sign(e1 - e2) : Math.sign(c1 - c2);
        expect(compareZxid(makeZxid(e1, c1), makeZxid(e2, c2))).toBe(lex === 0 ? 0 : lex);
      }),
    );
  });

  it('a later epoch beats any counter of an earlier one', () => {
    expect(compareZxid(makeZxid(2, 0), makeZxid(1, MAX_COUNTER))).toBe(1);
    expect(compareZxid(makeZxid(1, MAX_COUNTER), makeZxid(2, 0))).toBe(-1);
    expect(compareZxid(makeZxid(4, 4), makeZxid(4, 4))).toBe(0);
  });

  it('compareZxid is antisymmetric and maxZxid picks the larger', () => {
    fc.assert(
      fc.property(zxid, zxid, (a, b) => {
        expect(compareZxid(a, b)).toBe(-compareZxid(b, a) || 0);
        const m = maxZxid(a, b);
        expect(m === a || m === b).toBe(true);
        expect(compareZxid(m, a)).toBeGreaterThanOrEqual(0);
        expect(compareZxid(m, b)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('formatZxid / parseZxid', () => {
  it('prints like ZooKeeper: 0x-prefixed lowercase hex without padding', () => {
    expect(formatZxid(0x100000001n)).toBe('0x100000001');
    expect(formatZxid(makeZxid(0xab, 0xcd))).toBe('0xab000000cd');
    expect(formatZxid(0n)).toBe('0x0');
    expect(formatZxid((1n << 64n) - 1n)).toBe('0xffffffffffffffff');
  });

  it('parse(format(z)) === z for every zxid', () => {
    fc.assert(
      fc.property(zxid, (z) => {
        expect(parseZxid(formatZxid(z))).toBe(z);
      }),
    );
  });

  it('parses decimal and upper-case hex, trimming whitespace', () => {
    fc.assert(
      fc.property(zxid, (z) => {
        expect(parseZxid(z.toString(10))).toBe(z);
      }),
    );
    expect(parseZxid('0X1FF')).toBe(0x1ffn);
    expect(parseZxid('  0x100000001\n')).toBe(0x100000001n);
    expect(parseZxid('0x0000000000000000000001')).toBe(1n);
    expect(parseZxid('18446744073709551615')).toBe((1n << 64n) - 1n);
  });

  it('rejects garbage with a SyntaxError naming the input', () => {
    for (const bad of ['', ' ', '0x', 'x10', '0xg', '-1', '+1', '1.5', '1e3', '0x-1', '0b101', 'abc', '0x1 2', '١٢']) {
      expect(() => parseZxid(bad), bad).toThrow(SyntaxError);
    }
    expect(() => parseZxid('zz')).toThrow(/not a zxid: 'zz'/);
  });

  it('rejects values wider than 64 bits', () => {
    expect(() => parseZxid('0x10000000000000000')).toThrow(RangeError);
    expect(() => parseZxid('18446744073709551616')).toThrow(/does not fit in 64 bits/);
    fc.assert(
      fc.property(fc.bigInt({ min: 1n << 64n, max: 1n << 80n }), (big) => {
        expect(() => parseZxid(formatZxid(big))).toThrow(RangeError);
      }),
    );
  });
});

describe('counter exhaustion (ZOOKEEPER-1277)', () => {
  it('is exhausted exactly at counter 0xffffffff', () => {
    expect(isCounterExhausted(makeZxid(1, 0xffffffff))).toBe(true);
    expect(isCounterExhausted(makeZxid(1, 0xfffffffe))).toBe(false);
    expect(isCounterExhausted(makeZxid(0, 0))).toBe(false);
    fc.assert(
      fc.property(epoch, counter, (e, c) => {
        expect(isCounterExhausted(makeZxid(e, c))).toBe(c === MAX_COUNTER);
      }),
    );
  });

  it('nextZxid increments the counter within the epoch and throws at exhaustion', () => {
    expect(nextZxid(epochStart(5))).toBe(makeZxid(5, 1));
    expect(nextZxid(makeZxid(1, 0xfffffffe))).toBe(makeZxid(1, 0xffffffff));
    expect(() => nextZxid(makeZxid(1, 0xffffffff))).toThrow(RangeError);
    expect(() => nextZxid(makeZxid(1, 0xffffffff))).toThrow(/exhausted at 0x1ffffffff: a new epoch is required/);
    fc.assert(
      fc.property(epoch, fc.integer({ min: 0, max: MAX_COUNTER - 1 }), (e, c) => {
        const n = nextZxid(makeZxid(e, c));
        expect(epochOf(n)).toBe(e);
        expect(counterOf(n)).toBe(c + 1);
      }),
    );
  });
});

describe('isZxid', () => {
  it('accepts 64-bit unsigned bigints only', () => {
    expect(isZxid(0n)).toBe(true);
    expect(isZxid((1n << 64n) - 1n)).toBe(true);
    expect(isZxid(1n << 64n)).toBe(false);
    expect(isZxid(-1n)).toBe(false);
    expect(isZxid(1)).toBe(false);
    expect(isZxid('0x1')).toBe(false);
    expect(isZxid(undefined)).toBe(false);
  });
});
