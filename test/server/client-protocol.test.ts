/**
 * parseRequest/parseResponse take a hand-checked fast path for the common shapes: whatever the input,
 * they must accept exactly what the schemas accept and return what the schemas return.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientRequestSchema, decodeMessage, encodeMessage, parseRequest, parseResponse } from '../../src/server/client-protocol.js';

const edgeNumber = fc.oneof(
  fc.constantFrom(-2, -1, 0, 1, 2.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -0),
  fc.integer({ min: -5, max: 1_000_000 }),
  fc.double({ noNaN: true }),
);
const edgePath = fc.oneof(fc.constantFrom('', '/', '/a', 'x'.repeat(4096), 'x'.repeat(4097)), fc.string({ maxLength: 12 }));
const anything = fc.oneof(edgeNumber, edgePath, fc.boolean(), fc.uint8Array({ maxLength: 8 }), fc.constant(null));

const requestLike = fc.record(
  {
    id: fc.oneof(edgeNumber, anything),
    op: fc.constantFrom('setData', 'create', 'getData', 'delete', 'exists', 'bogus'),
    path: fc.oneof(edgePath, anything),
    data: fc.oneof(fc.uint8Array({ maxLength: 8 }), anything),
    version: fc.oneof(edgeNumber, anything),
    sequential: fc.oneof(fc.boolean(), anything),
    extra: anything,
  },
  { requiredKeys: ['op'] },
);

const bytesAsArrays = (v: unknown): unknown =>
  v instanceof Uint8Array ? [...v] : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytesAsArrays(x)])) : v;

describe('client protocol parsing', () => {
  it('parseRequest accepts exactly what the request schema accepts, with the same output', () => {
    fc.assert(
      fc.property(requestLike, (raw) => {
        const bytes = encodeMessage(raw);
        const got = parseRequest(bytes);
        const want = clientRequestSchema.safeParse(decodeMessage(bytes));
        if (want.success) expect(bytesAsArrays(got)).toEqual(bytesAsArrays(want.data));
        else expect(typeof got).toBe('string');
      }),
      { numRuns: 3000 },
    );
  });

  it('parseResponse takes any success and refuses what is not a response', () => {
    expect(parseResponse(encodeMessage({ id: 3, ok: true, result: { a: 1 } }))).toEqual({ id: 3, ok: true, result: { a: 1 } });
    expect(parseResponse(encodeMessage({ id: -1, ok: true, result: 1 }))).toBe('not a valid response');
    expect(parseResponse(encodeMessage({ id: 1.5, ok: true, result: 1 }))).toBe('not a valid response');
    expect(parseResponse(encodeMessage({ id: 1, ok: 'yes', result: 1 }))).toBe('not a valid response');
    expect(parseResponse(encodeMessage({ id: 1, ok: false, error: { code: 'NoNode', message: 'm' } }))).toMatchObject({ ok: false, error: { code: 'NoNode' } });
    expect(parseResponse(new Uint8Array([0x92, 0x01]))).toMatch(/^not MessagePack/);
  });
});
