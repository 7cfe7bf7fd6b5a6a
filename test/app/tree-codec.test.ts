/**
 * The data tree's internal encodings (requests, txns, results) and the runtime's txn envelope:
 * round trips of every shape, the map form of earlier versions still read (a txn log they wrote),
 * malformed requests carried through to prepare() to be refused, corrupt envelopes refused.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree, type DataTreeRequest, type DataTreeResult, type DataTreeTxn, type Stat } from '../../src/app/data-tree.js';
import { decodeTreeRequest, decodeTreeResult, decodeTreeTxn, encodeTreeRequest, encodeTreeResult, encodeTreeTxn } from '../../src/app/tree-codec.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/runtime/envelope.js';

const maps = new Packr({ useRecords: false });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
/** Comparable form: bytes as plain arrays (a Buffer and a Uint8Array with the same bytes are equal). */
const same = (v: unknown): unknown =>
  v instanceof Uint8Array ? [...v] : Array.isArray(v) ? v.map(same) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, same(x)])) : v;

const stat: Stat = { czxid: 0x100000001n, mzxid: 0x500000007n, pzxid: 0x100000003n, ctime: 1700000000000, mtime: 1700000000123, version: 7, cversion: 2, aversion: 0, ephemeralOwner: 0, dataLength: 3, numChildren: 1 };

const requests: DataTreeRequest[] = [
  { op: 'create', path: '/a', data: bytes('x') },
  { op: 'create', path: '/s-', data: bytes(''), sequential: true },
  { op: 'delete', path: '/a', version: -1 },
  { op: 'setData', path: '/a', data: bytes('yz'), version: 4 },
  { op: 'check', path: '/a', version: 0 },
  { op: 'multi', ops: [{ op: 'check', path: '/a', version: 1 }, { op: 'create', path: '/a/b', data: bytes('q') }, { op: 'delete', path: '/c', version: 2 }] },
  { op: 'multi', ops: [] },
];

const txns: DataTreeTxn[] = [
  { op: 'create', path: '/a', data: bytes('x'), parentCversion: 1, time: 5 },
  { op: 'delete', path: '/a', parentCversion: 2 },
  { op: 'setData', path: '/a', data: bytes('yz'), version: 3, time: 9 },
  { op: 'check', path: '/a' },
  { op: 'error', code: 'NoNode', path: '/zz' },
  { op: 'multi', txns: [{ op: 'check', path: '/a' }, { op: 'setData', path: '/a', data: bytes('v'), version: 1, time: 2 }] },
  { op: 'multi', txns: [{ op: 'error', code: 'Ok', path: '/a' }, { op: 'error', code: 'BadVersion', path: '/b' }, { op: 'error', code: 'RuntimeInconsistency', path: '/c' }] },
];

const results: DataTreeResult[] = [
  { ok: true, op: 'create', path: '/a', stat },
  { ok: true, op: 'delete', path: '/a' },
  { ok: true, op: 'setData', path: '/a', stat },
  { ok: true, op: 'check', path: '/a' },
  { ok: true, op: 'multi', results: [{ op: 'check', path: '/a' }, { op: 'create', path: '/a/b', stat }] },
  { ok: false, code: 'BadVersion', path: '/a' },
  { ok: false, code: 'NotEmpty', path: '/a', results: [{ op: 'error', code: 'Ok', path: '/x' }, { op: 'error', code: 'NotEmpty', path: '/a' }] },
];

describe('tree codec', () => {
  it('round-trips every request, txn and result shape', () => {
    for (const r of requests) expect(same(decodeTreeRequest(encodeTreeRequest(r)))).toEqual(same(r));
    for (const t of txns) expect(same(decodeTreeTxn(encodeTreeTxn(t)))).toEqual(same(t));
    for (const r of results) expect(same(decodeTreeResult(encodeTreeResult(r)))).toEqual(same(r));
  });

  it('writes arrays, not maps: smaller than the map form', () => {
    for (const t of txns) expect(encodeTreeTxn(t).length).toBeLessThan(maps.pack(t).length);
    expect(encodeTreeResult(results[0]!).length).toBeLessThan(maps.pack(results[0]).length);
  });

  it('reads the map form of earlier versions (a txn log they wrote)', () => {
    for (const t of txns) expect(same(decodeTreeTxn(maps.pack(t)))).toEqual(same(t));
    for (const r of requests) expect(same(decodeTreeRequest(maps.pack(r)))).toEqual(same(r));
    for (const r of results) expect(same(decodeTreeResult(maps.pack(r)))).toEqual(same(r));
  });

  it('carries malformed requests to prepare(), which refuses them with BadArguments', () => {
    const dt = new DataTree({ now: () => 1 });
    const bad = [
      { op: 'setData', path: '/a', data: 'not bytes', version: -1 },
      { op: 'delete', path: '/a', version: 'x' },
      { op: 'rename', path: '/a' },
      { op: 'multi', ops: [{ op: 'multi', ops: [] }] },
      { op: 'multi', ops: [{ op: 'create', path: 7, data: bytes('') }] },
      'just a string',
    ] as unknown as DataTreeRequest[];
    for (const [i, r] of bad.entries()) {
      const txn = decodeTreeTxn(dt.prepare(encodeTreeRequest(r), BigInt(i + 1)));
      const code = txn.op === 'multi' ? txn.txns.find((s) => s.op === 'error' && s.code !== 'Ok') : txn;
      expect(code, JSON.stringify(r)).toMatchObject({ op: 'error', code: 'BadArguments' });
    }
    expect(decodeTreeTxn(dt.prepare(new Uint8Array([0xc1]), 99n))).toEqual({ op: 'error', code: 'BadArguments', path: '' });
  });

  it('refuses an unknown txn code', () => {
    expect(() => decodeTreeTxn(maps.pack([42, '/a']))).toThrow(/unknown data tree txn code 42/);
  });
});

describe('txn envelope', () => {
  it('round-trips any id and txn, the txn as a view without a copy', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 600 }), (id, op) => {
        const env = encodeEnvelope(id, op);
        const d = decodeEnvelope(env);
        expect(d.id).toBe(id);
        expect([...d.op]).toEqual([...op]);
        expect(d.op.buffer).toBe(env.buffer);
      }),
    );
  });

  it('reads the MessagePack envelopes of earlier versions', () => {
    const old = new Packr({ useRecords: false, moreTypes: false }).pack(['2.1.17', bytes('txn')]);
    expect(old[0]).toBe(0x92);
    const d = decodeEnvelope(old);
    expect(d.id).toBe('2.1.17');
    expect([...d.op]).toEqual([...bytes('txn')]);
  });

  it('refuses corrupt envelopes with an error, never a wrong txn', () => {
    expect(() => decodeEnvelope(new Uint8Array([]))).toThrow(/corrupt txn envelope/);
    expect(() => decodeEnvelope(new Uint8Array([0x01, 0x00]))).toThrow(/corrupt txn envelope/);
    expect(() => decodeEnvelope(new Uint8Array([0x01, 0x00, 0x09, 0x41]))).toThrow(/corrupt txn envelope/);
    expect(() => decodeEnvelope(new Uint8Array([0x07, 0x00, 0x00]))).toThrow(/corrupt txn envelope/);
    expect(() => decodeEnvelope(new Uint8Array([0x92, 0x01]))).toThrow();
  });
});
