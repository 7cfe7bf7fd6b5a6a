/**
 * zxid: ZooKeeper's 64-bit transaction id. High 32 bits are the leader's epoch, low 32 bits a counter
 * that the leader increments per proposal. A bigint keeps the full 64 bits exact.
 */
export type Zxid = bigint;

export const ZXID_ZERO: Zxid = 0n;
export const MAX_EPOCH = 0xffffffff;
export const MAX_COUNTER = 0xffffffff;
const MASK32 = 0xffffffffn;
const MAX_ZXID = (1n << 64n) - 1n;

export function makeZxid(epoch: number, counter: number): Zxid {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch out of range: ${epoch}`);
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) throw new RangeError(`counter out of range: ${counter}`);
  return (BigInt(epoch) << 32n) | BigInt(counter);
}

export function epochOf(z: Zxid): number {
  return Number(z >> 32n);
}

export function counterOf(z: Zxid): number {
  return Number(z & MASK32);
}

/** The zxid a new leader of `epoch` starts from: counter 0, so its first proposal is counter 1. */
export function epochStart(epoch: number): Zxid {
  return makeZxid(epoch, 0);
}

/** True when the counter cannot be incremented again in this epoch (ZOOKEEPER-1277): the leader must force a new epoch. */
export function isCounterExhausted(z: Zxid): boolean {
  return (z & MASK32) === MASK32;
}

/** The next zxid in the same epoch; throws on exhaustion (callers check isCounterExhausted first). */
export function nextZxid(z: Zxid): Zxid {
  if (isCounterExhausted(z)) throw new RangeError(`zxid counter exhausted at ${formatZxid(z)}: a new epoch is required`);
  return z + 1n;
}

export function compareZxid(a: Zxid, b: Zxid): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function maxZxid(a: Zxid, b: Zxid): Zxid {
  return a > b ? a : b;
}

/** Hex as ZooKeeper prints it: `0x100000001`, no padding. */
export function formatZxid(z: Zxid): string {
  return '0x' + z.toString(16);
}

/** Parses `0x...` hex (as printed by ZooKeeper and formatZxid) or a decimal string. */
export function parseZxid(text: string): Zxid {
  const s = text.trim();
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(s)) v = BigInt(s);
  else if (/^[0-9]+$/.test(s)) v = BigInt(s);
  else throw new SyntaxError(`not a zxid: '${text}' (expected hex like 0x100000001 or a decimal number)`);
  if (v > MAX_ZXID) throw new RangeError(`zxid does not fit in 64 bits: '${text}'`);
  return v;
}

export function isZxid(v: unknown): v is Zxid {
  return typeof v === 'bigint' && v >= 0n && v <= MAX_ZXID;
}
