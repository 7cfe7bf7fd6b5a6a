import { describe, expect, it } from 'vitest';
import type { ServerSpec } from '../../src/config/types.js';
import {
  checkAnswer,
  checkHello,
  decodeHandshake,
  encodeHandshake,
  HandshakeReader,
  MAX_HANDSHAKE_BYTES,
  PROTOCOL_VERSION,
  type Handshake,
} from '../../src/transport/handshake.js';

const hello: Handshake = { version: PROTOCOL_VERSION, channel: 'election', kind: 'hello', sid: 3, clusterId: 'prod-é', reason: '' };

const servers = new Map<number, ServerSpec>(
  [1, 2, 3, 4].map((id) => [
    id,
    { id, host: '127.0.0.1', quorumPort: 1000 + id, electionPort: 2000 + id, role: id === 4 ? 'observer' : 'participant' },
  ]),
);
const ctx = { self: 1, clusterId: 'prod-é', servers, channel: 'election' as const };

describe('handshake codec', () => {
  it('round-trips every kind and channel', () => {
    for (const channel of ['election', 'quorum'] as const) {
      for (const kind of ['hello', 'accept', 'reject'] as const) {
        const h = { ...hello, channel, kind, reason: kind === 'reject' ? 'no, because' : '' };
        const frame = encodeHandshake(h);
        expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
        expect(decodeHandshake(frame.subarray(4))).toEqual({ ok: true, handshake: h });
      }
    }
  });

  it('rejects bad magic, truncation and trailing bytes without throwing', () => {
    const payload = encodeHandshake(hello).subarray(4);
    const bad = Buffer.from(payload);
    bad[0] ^= 0xff;
    expect(decodeHandshake(bad)).toMatchObject({ ok: false, reason: expect.stringContaining('magic') });
    for (let n = 0; n < payload.length; n++) expect(decodeHandshake(payload.subarray(0, n)).ok).toBe(false);
    expect(decodeHandshake(Buffer.concat([payload, Buffer.from([0])])).ok).toBe(false);
  });

  it('cuts an over-long reason on a character boundary and refuses an over-long cluster id', () => {
    const h = decodeHandshake(encodeHandshake({ ...hello, kind: 'reject', reason: 'é'.repeat(1000) }).subarray(4));
    expect(h.ok && h.handshake.reason.length > 0 && !h.handshake.reason.includes('\ufffd')).toBe(true);
    expect(() => encodeHandshake({ ...hello, clusterId: 'x'.repeat(300) })).toThrow(RangeError);
  });

  it('the reader assembles a handshake split anywhere and returns what follows', () => {
    const frame = Buffer.concat([encodeHandshake(hello), Buffer.from([1, 2, 3])]);
    for (let cut = 0; cut <= frame.length; cut++) {
      const r = new HandshakeReader();
      const first = r.push(frame.subarray(0, cut));
      const step = first.state === 'done' ? first : r.push(frame.subarray(cut));
      expect(step.state).toBe('done');
      if (step.state === 'done') {
        expect(step.handshake).toEqual(hello);
        // Done within the first chunk: the leftover is the rest of that chunk only.
        const hsLen = frame.length - 3;
        expect([...step.leftover]).toEqual(first.state === 'done' ? [1, 2, 3].slice(0, cut - hsLen) : [1, 2, 3]);
      }
    }
  });

  it('the reader refuses a stream that does not start with a handshake', () => {
    expect(new HandshakeReader().push(Buffer.from('GET / HTTP/1.1\r\n'))).toMatchObject({ state: 'error', garbage: true });
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_HANDSHAKE_BYTES + 1);
    expect(new HandshakeReader().push(big).state).toBe('error');
    expect(new HandshakeReader().push(Buffer.alloc(4)).state).toBe('error');
  });
});

describe('admission', () => {
  it('admits a known voter of the same cluster', () => {
    expect(checkHello(hello, ctx)).toBeNull();
    expect(checkHello({ ...hello, sid: 4, channel: 'quorum' }, { ...ctx, channel: 'quorum' })).toBeNull();
  });

  it.each([
    ['another cluster', { clusterId: 'staging' }, ctx, /cluster 'staging'.*'prod-é'/],
    ['another version', { version: PROTOCOL_VERSION + 1 }, ctx, /protocol version/],
    ['an unknown id', { sid: 42 }, ctx, /server id 42 is not in/],
    ['our own id', { sid: 1 }, ctx, /own id 1/],
    ['an observer on the election channel', { sid: 4 }, ctx, /observer/],
    ['the wrong channel for the port', { channel: 'quorum' as const }, ctx, /quorum hello arrived on the election port/],
    ['not a hello', { kind: 'accept' as const }, ctx, /expected a hello/],
    ['an election hello to an observer', {}, { ...ctx, self: 4 }, /this server is an observer/],
  ])('refuses %s with a hint', (_name, change, c, reason) => {
    const r = checkHello({ ...hello, ...change }, c);
    expect(r?.reason).toMatch(reason);
    expect(r?.hint.length).toBeGreaterThan(10);
  });

  it('the connector checks who answered', () => {
    const expected = { sid: 3, clusterId: 'prod-é', channel: 'election' as const };
    expect(checkAnswer({ ...hello, kind: 'accept' }, expected)).toBeNull();
    expect(checkAnswer({ ...hello, kind: 'accept', sid: 2 }, expected)?.reason).toMatch(/expected server 3/);
    expect(checkAnswer({ ...hello, kind: 'reject', reason: 'nope' }, expected)?.reason).toMatch(/refused by server 3: nope/);
    expect(checkAnswer({ ...hello, kind: 'accept', clusterId: 'x' }, expected)?.reason).toMatch(/cluster/);
  });
});
