/**
 * Deterministic fuzz of FrameDecoder + decodePeerMessage: random bytes and mutations of valid
 * frames. Asserts the pair never throws, always terminates, and yields either a message that an
 * independent (zod) validator accepts and that re-encodes, or a ProtocolError of a known kind.
 * Override the seed with FUZZ_SEED=<n> to explore; failures print the seed, case and input.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PEER_MESSAGE_TYPES, type PeerMessage, type PeerMessageType, type PeerState } from '../../src/protocol/messages.js';
import { decodePeerMessage, encodePeerFrame, encodePeerMessage } from '../../src/codec/peer-codec.js';
import { FrameDecoder } from '../../src/codec/frame.js';
import { PROTOCOL_ERROR_KINDS, type ProtocolErrorKind } from '../../src/codec/errors.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x2ab5eed);
const CASES = 100_000;
const MAX_FRAME = 64 * 1024;
const MAX64 = (1n << 64n) - 1n;

// ---- independent oracle: what a valid decoded message looks like ----

const zxid = z.bigint().min(0n).max(MAX64);
const u32 = z.number().int().min(0).max(0xffffffff);
const u53 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const bytes = z.instanceof(Uint8Array);
const msg = <T extends PeerMessageType, S extends z.ZodRawShape>(type: T, shape: S) => z.strictObject({ type: z.literal(type), ...shape });
const oracle = z.discriminatedUnion('type', [
  msg('NOTIFICATION', { leader: u32, zxid, peerEpoch: u32, round: u32, state: z.enum(['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING']) }),
  msg('FOLLOWERINFO', { acceptedEpoch: u32, lastZxid: zxid, observer: z.boolean() }),
  msg('LEADERINFO', { newEpoch: u32 }),
  msg('ACKEPOCH', { currentEpoch: u32, lastZxid: zxid, counted: z.boolean() }),
  msg('DIFF', { zxid }),
  msg('TRUNC', { zxid }),
  msg('SNAP', { zxid, size: u53 }),
  msg('SNAPCHUNK', { offset: u53, data: bytes, last: z.boolean() }),
  msg('NEWLEADER', { epoch: u32, zxid }),
  msg('ACKNEWLEADER', { epoch: u32 }),
  msg('UPTODATE', { committed: zxid }),
  msg('PROPOSAL', { txns: z.array(z.strictObject({ zxid, data: bytes })) }),
  msg('ACK', { zxid }),
  msg('COMMIT', { zxid }),
  msg('INFORM', { txns: z.array(z.strictObject({ zxid, data: bytes })) }),
  msg('PING', { zxid }),
  msg('REQUEST', { requests: z.array(z.strictObject({ id: z.string(), data: bytes })) }),
  msg('SYNC', { id: z.string() }),
  msg('SYNCREPLY', { id: z.string(), zxid }),
  msg('LEADERACK', { zxid }),
]);

// ---- seeded generation ----

/** mulberry32: tiny, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  u32(): number {
    return this.pick([0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff, this.int(2 ** 32)]);
  }
  zxid(): bigint {
    return this.pick([0n, 1n, 2n ** 32n - 1n, 2n ** 32n, MAX64, (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32))]);
  }
  data(): Uint8Array {
    return this.bytes(this.pick([0, 1, 5, 40, 300]));
  }
  id(): string {
    return this.pick(['', 'r-1', 'é✓', 'x'.repeat(40), `req-${this.int(1e9)}`]);
  }
  message(): PeerMessage {
    const type = this.pick(PEER_MESSAGE_TYPES);
    const n = this.pick([0, 1, 3, 17]);
    const state = this.pick<PeerState>(['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING']);
    switch (type) {
      case 'NOTIFICATION':
        return { type, leader: this.u32(), zxid: this.zxid(), peerEpoch: this.u32(), round: this.u32(), state };
      case 'FOLLOWERINFO':
        return { type, acceptedEpoch: this.u32(), lastZxid: this.zxid(), observer: this.int(2) === 1 };
      case 'LEADERINFO':
        return { type, newEpoch: this.u32() };
      case 'ACKEPOCH':
        return { type, currentEpoch: this.u32(), lastZxid: this.zxid(), counted: this.int(2) === 1 };
      case 'SNAP':
        return { type, zxid: this.zxid(), size: this.pick([0, 2 ** 40, Number.MAX_SAFE_INTEGER]) };
      case 'SNAPCHUNK':
        return { type, offset: this.u32(), data: this.data(), last: this.int(2) === 1 };
      case 'NEWLEADER':
        return { type, epoch: this.u32(), zxid: this.zxid() };
      case 'ACKNEWLEADER':
        return { type, epoch: this.u32() };
      case 'UPTODATE':
        return { type, committed: this.zxid() };
      case 'PROPOSAL':
      case 'INFORM':
        return { type, txns: Array.from({ length: n }, () => ({ zxid: this.zxid(), data: this.data() })) };
      case 'REQUEST':
        return { type, requests: Array.from({ length: n }, () => ({ id: this.id(), data: this.data() })) };
      case 'SYNC':
        return { type, id: this.id() };
      case 'SYNCREPLY':
        return { type, id: this.id(), zxid: this.zxid() };
      default:
        return { type, zxid: this.zxid() }; // DIFF, TRUNC, ACK, COMMIT, PING, LEADERACK
    }
  }
}

// ---- mutations ----

/** MessagePack bytes most likely to hit edge cases in a decoder. */
const INTERESTING = [0x00, 0x7f, 0x80, 0x90, 0x9f, 0xa0, 0xc0, 0xc1, 0xc2, 0xc4, 0xc6, 0xcb, 0xcf, 0xd3, 0xd4, 0xdb, 0xdc, 0xdd, 0xde, 0xe0, 0xff];

function withPrefix(payload: Uint8Array, length = payload.length): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, length >>> 0);
  out.set(payload, 4);
  return out;
}

function mutate(g: Gen, corpus: Uint8Array[]): Uint8Array {
  const frame = g.pick(corpus);
  const payload = frame.subarray(4);
  const at = (len: number) => g.int(Math.max(len, 1));
  switch (g.int(9)) {
    case 0: // random bytes, raw
      return g.bytes(g.int(48));
    case 1: // random payload, correct prefix
      return withPrefix(g.bytes(1 + g.int(48)));
    case 2: {
      // bit flips in the payload
      const p = Uint8Array.from(payload);
      for (let k = 1 + g.int(4); k > 0; k--) p[at(p.length)] ^= 1 << g.int(8);
      return withPrefix(p);
    }
    case 3: {
      // bit flip anywhere, prefix included
      const f = Uint8Array.from(frame);
      f[at(f.length)] ^= 1 << g.int(8);
      return f;
    }
    case 4: // truncated payload, prefix fixed up (so the payload decoder sees it) or not
      return g.int(2) ? withPrefix(payload.subarray(0, at(payload.length))) : frame.subarray(0, at(frame.length));
    case 5: {
      // extension with random bytes, prefix fixed up or not
      const ext = Uint8Array.from(Buffer.concat([payload, g.bytes(1 + g.int(16))]));
      return g.int(2) ? withPrefix(ext) : withPrefix(ext, payload.length);
    }
    case 6: // corrupted length prefix
      return withPrefix(payload, g.pick([0, 1, payload.length - 1, payload.length + 1, MAX_FRAME, MAX_FRAME + 1, 0xffffffff, g.int(2 ** 32)]));
    case 7: {
      // interesting byte replaced or inserted
      const p = Array.from(payload);
      const i = at(p.length);
      if (g.int(2)) p[i] = g.pick(INTERESTING);
      else p.splice(i, 0, g.pick(INTERESTING));
      return withPrefix(Uint8Array.from(p));
    }
    default: {
      // a byte deleted, then spliced with another valid frame
      const p = Array.from(payload);
      p.splice(at(p.length), 1);
      return Uint8Array.from(Buffer.concat([withPrefix(Uint8Array.from(p)), g.pick(corpus)]));
    }
  }
}

// ---- the fuzz loop ----

function fail(detail: string, i: number, input: Uint8Array): never {
  const shown = Buffer.from(input.subarray(0, 256)).toString('hex');
  throw new Error(`fuzz failure (FUZZ_SEED=${SEED}, case ${i}): ${detail}\ninput (${input.length} B): ${shown}`);
}

function checkOne(i: number, input: Uint8Array, g: Gen, stats: Map<string, number>): void {
  const count = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);
  const dec = new FrameDecoder({ maxFrameSize: MAX_FRAME });
  // Deliver in 1-3 chunks so partial headers and bodies are exercised too.
  const cut1 = g.int(input.length + 1);
  const cut2 = cut1 + g.int(input.length - cut1 + 1);
  for (const chunk of [input.subarray(0, cut1), input.subarray(cut1, cut2), input.subarray(cut2)]) {
    const { frames, error } = dec.push(chunk);
    for (const frame of frames) {
      const r = decodePeerMessage(frame);
      if (r.ok) {
        const parsed = oracle.safeParse(r.msg);
        if (!parsed.success) fail(`decoded an invalid message: ${parsed.error.message}`, i, input);
        const again = decodePeerMessage(encodePeerMessage(r.msg));
        if (!again.ok) fail(`re-encoded message does not decode: ${again.error.message}`, i, input);
        count(`ok:${r.msg.type}`);
      } else {
        checkError(r.error.kind, r.error.message, i, input);
        count(r.error.kind);
      }
    }
    if (error) {
      checkError(error.kind, error.message, i, input);
      count(error.kind);
      break;
    }
  }
}

function checkError(kind: ProtocolErrorKind, message: string, i: number, input: Uint8Array): void {
  if (!PROTOCOL_ERROR_KINDS.includes(kind)) fail(`unknown error kind ${kind}`, i, input);
  if (message.length === 0 || message.startsWith('internal')) fail(`bad error message: ${message}`, i, input);
}

describe('codec fuzz', () => {
  it(`survives ${CASES} random and mutated frames (seed ${SEED})`, { timeout: 30_000 }, () => {
    const g = new Gen(prng(SEED));
    const corpus = Array.from({ length: 400 }, () => encodePeerFrame(g.message(), { maxFrameSize: MAX_FRAME }));
    const stats = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const input = mutate(g, corpus);
      try {
        checkOne(i, input, g, stats);
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('fuzz failure')) throw e;
        fail(`threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, i, input);
      }
    }
    if (process.env.FUZZ_STATS) console.log(JSON.stringify([...stats].sort()));
    // The fuzzer must actually reach every outcome, or it is not testing much.
    for (const kind of PROTOCOL_ERROR_KINDS) expect(stats.get(kind) ?? 0, `error kind ${kind}`).toBeGreaterThan(0);
    const okCount = [...stats].filter(([k]) => k.startsWith('ok:')).reduce((s, [, v]) => s + v, 0);
    expect(okCount).toBeGreaterThan(1000);
  });
});
