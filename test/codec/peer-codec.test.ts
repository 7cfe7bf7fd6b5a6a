import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { PEER_MESSAGE_TYPES, type PeerMessage, type PeerMessageType, type PeerState } from '../../src/protocol/messages.js';
import { decodePeerMessage, encodePeerFrame, encodePeerMessage, type DecodeResult } from '../../src/codec/peer-codec.js';
import { FrameDecoder } from '../../src/codec/frame.js';
import { WIRE_SCHEMA } from '../../src/codec/schema.js';
import type { ProtocolErrorKind } from '../../src/codec/errors.js';

const MAX64 = (1n << 64n) - 1n;

// ---- arbitraries ----

const zxid = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, MAX64),
  fc.bigInt({ min: 0n, max: MAX64 }),
);
const u32 = fc.oneof(fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const u53 = fc.oneof(fc.constantFrom(0, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const data = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 250, maxLength: 300 }));
const id = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ minLength: 250, maxLength: 300 }));
const state = fc.constantFrom<PeerState>('LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING');
const txns = fc.array(fc.record({ zxid, data }), { maxLength: 20 });
const requests = fc.array(fc.record({ id, data }), { maxLength: 20 });
const t = <T extends PeerMessageType>(type: T) => fc.constant(type);

const messageArbs: { [T in PeerMessageType]: fc.Arbitrary<Extract<PeerMessage, { type: T }>> } = {
  NOTIFICATION: fc.record({ type: t('NOTIFICATION'), leader: u32, zxid, peerEpoch: u32, round: u32, state }),
  FOLLOWERINFO: fc.record({ type: t('FOLLOWERINFO'), acceptedEpoch: u32, lastZxid: zxid, observer: fc.boolean() }),
  LEADERINFO: fc.record({ type: t('LEADERINFO'), newEpoch: u32 }),
  ACKEPOCH: fc.record({ type: t('ACKEPOCH'), currentEpoch: u32, lastZxid: zxid, counted: fc.boolean() }),
  DIFF: fc.record({ type: t('DIFF'), zxid }),
  TRUNC: fc.record({ type: t('TRUNC'), zxid }),
  SNAP: fc.record({ type: t('SNAP'), zxid, size: u53 }),
  SNAPCHUNK: fc.record({ type: t('SNAPCHUNK'), offset: u53, data, last: fc.boolean() }),
  NEWLEADER: fc.record({ type: t('NEWLEADER'), epoch: u32, zxid }),
  ACKNEWLEADER: fc.record({ type: t('ACKNEWLEADER'), epoch: u32 }),
  UPTODATE: fc.record({ type: t('UPTODATE'), committed: zxid }),
  PROPOSAL: fc.record({ type: t('PROPOSAL'), txns }),
  ACK: fc.record({ type: t('ACK'), zxid }),
  COMMIT: fc.record({ type: t('COMMIT'), zxid }),
  INFORM: fc.record({ type: t('INFORM'), txns }),
  PING: fc.record({ type: t('PING'), zxid }),
  REQUEST: fc.record({ type: t('REQUEST'), requests }),
  SYNC: fc.record({ type: t('SYNC'), id }),
  SYNCREPLY: fc.record({ type: t('SYNCREPLY'), id, zxid }),
  LEADERACK: fc.record({ type: t('LEADERACK'), zxid }),
};

function decodeOk(bytes: Uint8Array): PeerMessage {
  const r = decodePeerMessage(bytes);
  if (!r.ok) throw new Error(`unexpected decode error: ${r.error.kind}: ${r.error.message}`);
  return r.msg;
}

function expectError(r: DecodeResult, kind: ProtocolErrorKind, message?: RegExp): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.kind).toBe(kind);
  if (message) expect(r.error.message).toMatch(message);
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// ---- round trips ----

describe('round trip', () => {
  for (const type of PEER_MESSAGE_TYPES) {
    it(`${type}: decode(encode(m)) equals m`, () => {
      fc.assert(
        fc.property(messageArbs[type], (m) => {
          expect(decodeOk(encodePeerMessage(m))).toEqual(m);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('encodePeerFrame is the length prefix plus encodePeerMessage, and goes through FrameDecoder', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(...Object.values(messageArbs)), { minLength: 1, maxLength: 5 }), (msgs) => {
        const frames = msgs.map((m) => encodePeerFrame(m));
        for (let i = 0; i < msgs.length; i++) {
          const payload = encodePeerMessage(msgs[i]);
          expect(frames[i].readUInt32BE(0)).toBe(payload.length);
          expect(Buffer.compare(frames[i].subarray(4), payload)).toBe(0);
        }
        const { frames: out, error } = new FrameDecoder().push(Buffer.concat(frames));
        expect(error).toBeNull();
        expect(out.map(decodeOk)).toEqual(msgs);
      }),
      { numRuns: 200 },
    );
  });

  it('handles bin/str/array sizes beyond the 8- and 16-bit formats', () => {
    const big = new Uint8Array(70_000).fill(7);
    const manyTxns = Array.from({ length: 40_000 }, (_, i) => ({ zxid: BigInt(i), data: new Uint8Array(0) }));
    const msgs: PeerMessage[] = [
      { type: 'SNAPCHUNK', offset: 2 ** 40, data: big, last: true },
      { type: 'SNAPCHUNK', offset: 0, data: big.subarray(0, 300), last: false },
      { type: 'SYNC', id: 'x'.repeat(70_000) },
      { type: 'SYNC', id: 'é'.repeat(200) },
      { type: 'PROPOSAL', txns: manyTxns },
      { type: 'PROPOSAL', txns: manyTxns.slice(0, 8) },
    ];
    for (const m of msgs) expect(decodeOk(encodePeerMessage(m))).toEqual(m);
  });

  it('has a schema entry with a unique code for every message type', () => {
    expect(Object.keys(WIRE_SCHEMA).sort()).toEqual([...PEER_MESSAGE_TYPES].sort());
    const codes = Object.values(WIRE_SCHEMA).map((s) => s.code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});

describe('wire format', () => {
  it('is stable (golden bytes)', () => {
    expect(Buffer.from(encodePeerMessage({ type: 'COMMIT', zxid: 0x100000005n })).toString('hex')).toBe('920ecf0000000100000005');
    expect(Buffer.from(encodePeerFrame({ type: 'LEADERINFO', newEpoch: 300 })).toString('hex')).toBe('0000000592 03 cd012c'.replace(/ /g, ''));
    const notification: PeerMessage = { type: 'NOTIFICATION', leader: 3, zxid: 1n, peerEpoch: 2, round: 9, state: 'LEADING' };
    expect(Buffer.from(encodePeerMessage(notification)).toString('hex')).toBe('96 01 03 cf0000000000000001 02 09 02'.replace(/ /g, ''));
    const proposal: PeerMessage = { type: 'PROPOSAL', txns: [{ zxid: 2n ** 32n + 1n, data: hex('abcd') }] };
    expect(Buffer.from(encodePeerMessage(proposal)).toString('hex')).toBe('92 0c 92 cf0000000100000001 c402abcd'.replace(/ /g, ''));
  });

  it('is plain MessagePack that msgpackr reads', () => {
    const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint' });
    const m: PeerMessage = { type: 'SYNCREPLY', id: 'req-1', zxid: 5n };
    expect(unpackr.unpack(encodePeerMessage(m))).toEqual([19, 'req-1', 5n]);
  });

  it('decodes msgpackr output, whatever integer width it picked', () => {
    const packr = new Packr({ useRecords: false });
    // msgpackr writes small bigints as int64 (0xd3); a zxid may also arrive as a plain number.
    expect(decodeOk(packr.pack([13, 5n]))).toEqual({ type: 'ACK', zxid: 5n });
    expect(decodeOk(packr.pack([13, 5]))).toEqual({ type: 'ACK', zxid: 5n });
    expect(decodeOk(packr.pack([13, MAX64]))).toEqual({ type: 'ACK', zxid: MAX64 });
    expect(decodeOk(packr.pack([3, 70000n]))).toEqual({ type: 'LEADERINFO', newEpoch: 70000 });
    expect(decodeOk(packr.pack([12, [7n, Buffer.from([1, 2])]]))).toEqual({ type: 'PROPOSAL', txns: [{ zxid: 7n, data: Uint8Array.from([1, 2]) }] });
  });

  it('returns data fields as views into the input, without copying', () => {
    const payload = encodePeerMessage({ type: 'PROPOSAL', txns: [{ zxid: 1n, data: hex('0102') }] });
    const msg = decodeOk(payload);
    if (msg.type !== 'PROPOSAL') throw new Error('wrong type');
    expect(msg.txns[0].data.buffer).toBe(payload.buffer);
    expect(msg.txns[0].data.constructor).toBe(Uint8Array);
  });

  it('keeps no state across payloads (a msgpackr record definition is just an error)', () => {
    expectError(decodePeerMessage(hex('d4 72 00')), 'malformed', /expected array, got ext/);
    expect(decodeOk(hex('920d05'))).toEqual({ type: 'ACK', zxid: 5n });
  });
});

describe('encoding rejects values outside the wire domain', () => {
  const bad: [string, unknown][] = [
    ['negative zxid', { type: 'ACK', zxid: -1n }],
    ['zxid >= 2^64', { type: 'COMMIT', zxid: 2n ** 64n }],
    ['number zxid', { type: 'PING', zxid: 5 }],
    ['epoch >= 2^32', { type: 'LEADERINFO', newEpoch: 2 ** 32 }],
    ['fractional epoch', { type: 'ACKNEWLEADER', epoch: 1.5 }],
    ['negative round', { type: 'NOTIFICATION', leader: 1, zxid: 0n, peerEpoch: 0, round: -1, state: 'LOOKING' }],
    ['unknown state', { type: 'NOTIFICATION', leader: 1, zxid: 0n, peerEpoch: 0, round: 0, state: 'DANCING' }],
    ['unsafe size', { type: 'SNAP', zxid: 0n, size: 2 ** 53 }],
    ['string data', { type: 'SNAPCHUNK', offset: 0, data: 'abc', last: true }],
    ['missing bool', { type: 'FOLLOWERINFO', acceptedEpoch: 1, lastZxid: 0n }],
    ['bad txn', { type: 'PROPOSAL', txns: [{ zxid: 1n, data: new Uint8Array(1) }, { zxid: 2n }] }],
    ['null txn', { type: 'INFORM', txns: [null] }],
    ['numeric id', { type: 'SYNC', id: 7 }],
    ['unknown type', { type: 'HELLO' }],
  ];
  for (const [name, msg] of bad) {
    it(name, () => {
      expect(() => encodePeerMessage(msg as PeerMessage)).toThrow(TypeError);
    });
  }

  it('names the field at fault', () => {
    expect(() => encodePeerMessage({ type: 'PROPOSAL', txns: [{ zxid: 1n, data: new Uint8Array(1) }, { zxid: -2n, data: new Uint8Array(1) }] })).toThrow(
      /PROPOSAL\.txns\[1\]\.zxid/,
    );
  });

  it('refuses a frame above the maximum size', () => {
    const m: PeerMessage = { type: 'SNAPCHUNK', offset: 0, data: new Uint8Array(100), last: false };
    expect(() => encodePeerFrame(m, { maxFrameSize: 50 })).toThrow(RangeError);
  });
});

describe('decoding errors', () => {
  it('truncated: empty payload, cut inside a value, array longer than the payload', () => {
    expectError(decodePeerMessage(new Uint8Array(0)), 'truncated', /empty payload/);
    expectError(decodePeerMessage(hex('920dcf000000')), 'truncated', /ACK\.zxid/);
    expectError(decodePeerMessage(hex('940801c40a0102')), 'truncated', /SNAPCHUNK\.data/);
    expectError(decodePeerMessage(hex('920cdd00010000')), 'truncated', /PROPOSAL\.txns/);
    expectError(decodePeerMessage(hex('92 0c 94 01 c400 02')), 'truncated', /PROPOSAL\.txns\[1\]\.data/);
    expectError(decodePeerMessage(hex('dc00')), 'truncated');
  });

  it('oversized and empty-frame come from the frame decoder', () => {
    expect(new FrameDecoder({ maxFrameSize: 10 }).push(hex('0000000b')).error).toMatchObject({ kind: 'oversized' });
    expect(new FrameDecoder().push(hex('00000000')).error).toMatchObject({ kind: 'empty-frame' });
  });

  it('malformed: not an array, empty array, wrong arity, bad type code, reserved byte', () => {
    expectError(decodePeerMessage(hex('81a474797065a3414b')), 'malformed', /expected array, got map/);
    expectError(decodePeerMessage(hex('c1')), 'malformed', /reserved byte/);
    expectError(decodePeerMessage(hex('90')), 'malformed', /empty/);
    expectError(decodePeerMessage(hex('930d0505')), 'malformed', /ACK: expected 1 fields, got 2/);
    expectError(decodePeerMessage(hex('910d')), 'malformed', /ACK: expected 1 fields, got 0/);
    expectError(decodePeerMessage(hex('92a141 05')), 'malformed', /type code: expected unsigned integer, got str/);
    expectError(decodePeerMessage(hex('92ff05')), 'malformed', /type code: value -1 is out of range/);
  });

  it('unknown-type: a code no message has', () => {
    expectError(decodePeerMessage(hex('926305')), 'unknown-type', /unknown message type code 99/);
    expectError(decodePeerMessage(hex('9100')), 'unknown-type', /code 0/);
  });

  it('bad-field: wrong msgpack type or value out of range, naming type and field', () => {
    const cases: [string, RegExp, string][] = [
      ['920da13f', /^ACK\.zxid: expected unsigned integer, got str$/, 'zxid'],
      ['920dd3ffffffffffffffff', /ACK\.zxid: value -1 is out of range/, 'zxid'],
      ['920dcb3ff0000000000000', /ACK\.zxid: expected unsigned integer, got float/, 'zxid'],
      ['9203cf0000000100000000', /LEADERINFO\.newEpoch: value 4294967296 is out of range 0\.\.4294967295/, 'newEpoch'],
      ['9203ff', /LEADERINFO\.newEpoch: value -1/, 'newEpoch'],
      ['9203c0', /LEADERINFO\.newEpoch: expected unsigned integer, got nil/, 'newEpoch'],
      ['96 01 01 00 01 01 04', /NOTIFICATION\.state: unknown peer state code 4/, 'state'],
      ['94 02 01 00 01', /FOLLOWERINFO\.observer: expected bool, got positive fixint/, 'observer'],
      ['93 07 00 cfffffffffffffffff', /SNAP\.size: value 18446744073709551615 is out of range/, 'size'],
      ['94 08 00 a0 c3', /SNAPCHUNK\.data: expected bin, got str/, 'data'],
      ['92 0c 93 01 c400 02', /PROPOSAL\.txns: expected an even-length array of pairs, got 3/, 'txns'],
      ['92 0c 94 01 c400 02 a0', /PROPOSAL\.txns\[1\]\.data: expected bin, got str/, 'txns[1].data'],
      ['92 0f 92 a0 c400', /INFORM\.txns\[0\]\.zxid/, 'txns[0].zxid'],
      ['92 11 92 c400 c400', /REQUEST\.requests\[0\]\.id: expected str, got bin/, 'requests[0].id'],
      ['92 12 a2 c328', /SYNC\.id: invalid UTF-8/, 'id'],
      ['92 12 c400', /SYNC\.id: expected str, got bin/, 'id'],
      ['92 0c 80', /PROPOSAL\.txns: expected array, got map/, 'txns'],
    ];
    for (const [bytes, message, field] of cases) {
      const r = decodePeerMessage(hex(bytes));
      expectError(r, 'bad-field', message);
      if (!r.ok) expect(r.error.field).toBe(field);
    }
  });

  it('trailing-bytes: anything after the message array', () => {
    expectError(decodePeerMessage(hex('920d05 00')), 'trailing-bytes', /ACK: 1 bytes after the message/);
    const payload = encodePeerMessage({ type: 'PROPOSAL', txns: [{ zxid: 1n, data: hex('01') }] });
    expectError(decodePeerMessage(Buffer.concat([payload, payload])), 'trailing-bytes');
  });
});
