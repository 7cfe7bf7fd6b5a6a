/**
 * Seeded PRNG for the simulator: sfc32 (small, fast, passes PractRand) seeded through splitmix32.
 * Every random choice in a simulation comes from one of these, so a run replays exactly from its seed.
 * fork(label) derives a child stream from this stream's *seed* and the label, without consuming
 * from this stream: a component that starts drawing more numbers does not shift anyone else's.
 */

/** splitmix32 step: a well-mixed 32-bit output from a 32-bit counter. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the label's UTF-16 code units: stable across platforms and runs. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A seed as two 32-bit words; accepts any safe integer (53 bits), negative included. */
function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer: ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return [lo, hi];
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The 64 bits that identify this stream; forks mix labels into these, not into the live state. */
  private readonly k0: number;
  private readonly k1: number;

  /** @param seed any safe integer; the same seed always yields the same stream. */
  constructor(seed: number);
  /** @internal two 32-bit key words (used by fork). */
  constructor(k0: number, k1: number);
  constructor(seedOrK0: number, k1?: number) {
    if (k1 === undefined) [this.k0, this.k1] = seedWords(seedOrK0);
    else [this.k0, this.k1] = [seedOrK0 >>> 0, k1 >>> 0];
    this.a = splitmix32(this.k0);
    this.b = splitmix32(this.k1 ^ 0x6a09e667);
    this.c = splitmix32(this.k0 ^ this.k1 ^ 0xbb67ae85);
    this.d = 1; // sfc32's counter; nonzero start as recommended
    for (let i = 0; i < 15; i++) this.nextU32(); // discard warm-up outputs
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits of precision. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) throw new RangeError(`bad range [${lo}, ${hi}]`);
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform real in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  /** True with probability p (p <= 0 never draws true, p >= 1 always). */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Fisher-Yates in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /**
   * An independent stream determined by this stream's seed and `label` only: the same label
   * always gives the same child, whatever has been drawn from this stream so far.
   */
  fork(label: string): Prng {
    const h = hashLabel(label);
    return new Prng(splitmix32(this.k0 ^ h), splitmix32(this.k1 ^ Math.imul(h, 0x27d4eb2d) ^ 0x3c6ef372));
  }
}
