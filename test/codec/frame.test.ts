import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame, FrameDecoder } from '../../src/codec/frame.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const concat = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** Pushes `chunks` and returns all payloads; fails the test on a decoder error. */
function decodeAll(dec: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    const { frames, error } = dec.push(c);
    if (error) throw new Error(`unexpected frame error: ${error.kind}: ${error.message}`);
    out.push(...frames);
  }
  // Assembled frames are Buffers, in-chunk frames views of the chunk's type: compare contents.
  return out.map((f) => new Uint8Array(f.buffer, f.byteOffset, f.length));
}

/** Splits `data` at the given (unsorted, possibly repeated) cut points. */
function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    chunks.push(data.subarray(prev, p)); // empty chunks included on purpose
    prev = p;
  }
  return chunks;
}

describe('encodeFrame', () => {
  it('writes a 4-byte big-endian length then the payload', () => {
    expect([...encodeFrame(bytes(0xaa, 0xbb, 0xcc))]).toEqual([0, 0, 0, 3, 0xaa, 0xbb, 0xcc]);
    const big = new Uint8Array(0x010203);
    expect([...encodeFrame(big).subarray(0, 4)]).toEqual([0, 1, 2, 3]);
  });

  it('refuses empty and oversized payloads', () => {
    expect(() => encodeFrame(new Uint8Array(0))).toThrow(RangeError);
    expect(() => encodeFrame(new Uint8Array(11), { maxFrameSize: 10 })).toThrow(/exceeds the maximum frame size 10/);
    expect(encodeFrame(new Uint8Array(10), { maxFrameSize: 10 }).length).toBe(14);
  });

  it('rejects an invalid maximum', () => {
    for (const maxFrameSize of [0, -1, 1.5, 2 ** 32, NaN]) {
      expect(() => new FrameDecoder({ maxFrameSize })).toThrow(RangeError);
    }
    expect(new FrameDecoder().maxFrameSize).toBe(DEFAULT_MAX_FRAME_SIZE);
  });
});

describe('FrameDecoder', () => {
  it('decodes many frames from one chunk, as views into it', () => {
    const payloads = [bytes(1), bytes(2, 3), bytes(4, 5, 6)];
    const chunk = concat(payloads.map((p) => encodeFrame(p)));
    const dec = new FrameDecoder();
    const frames = decodeAll(dec, [chunk]);
    expect(frames).toEqual(payloads);
    expect(frames.every((f) => f.buffer === chunk.buffer)).toBe(true);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const wire = encodeFrame(payload);
    const dec = new FrameDecoder();
    const out: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i++) {
      out.push(...decodeAll(dec, [wire.subarray(i, i + 1)]));
      if (i < wire.length - 1) expect(dec.bufferedBytes).toBe(i + 1);
    }
    expect(out).toEqual([payload]);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('handles a large frame in many small chunks in linear time', () => {
    const payload = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) & 0xff);
    const wire = encodeFrame(payload);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += 16) chunks.push(wire.subarray(i, i + 16)); // 65k chunks
    const frames = decodeAll(new FrameDecoder(), chunks);
    expect(frames).toHaveLength(1);
    expect(Buffer.compare(frames[0], payload)).toBe(0);
  });

  it('yields the same frames however the stream is split (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, cuts) => {
          const stream = concat(payloads.map((p) => encodeFrame(p)));
          const dec = new FrameDecoder({ maxFrameSize: 64 });
          expect(decodeAll(dec, splitAt(stream, cuts))).toEqual(payloads);
          expect(dec.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accepts a frame of exactly the maximum size', () => {
    const dec = new FrameDecoder({ maxFrameSize: 8 });
    expect(decodeAll(dec, [encodeFrame(new Uint8Array(8))])).toHaveLength(1);
  });

  it('fails on an oversized prefix as soon as the header is read, keeping earlier frames', () => {
    const dec = new FrameDecoder({ maxFrameSize: 1024 });
    const good = encodeFrame(bytes(7));
    // Only the header of the oversized frame is pushed: the error must not wait for the body.
    const r = dec.push(concat([good, bytes(0, 0, 4, 1)]));
    expect(r.frames).toEqual([bytes(7)]);
    expect(r.error).toMatchObject({ kind: 'oversized' });
    expect(r.error?.message).toMatch(/1025 exceeds the maximum frame size 1024/);
    expect(dec.failed).toBe(true);
    // Failed for good: later bytes (even valid frames) are ignored.
    const again = dec.push(good);
    expect(again.frames).toEqual([]);
    expect(again.error).toBe(r.error);
    expect(dec.error).toBe(r.error);
  });

  it('fails on an oversized prefix split across chunks', () => {
    const dec = new FrameDecoder({ maxFrameSize: 16 });
    expect(dec.push(bytes(0xff)).error).toBeNull();
    expect(dec.push(bytes(0xff, 0xff)).error).toBeNull();
    expect(dec.push(bytes(0xff)).error).toMatchObject({ kind: 'oversized' });
  });

  it('fails on a zero-length frame', () => {
    const dec = new FrameDecoder();
    const r = dec.push(concat([encodeFrame(bytes(1)), bytes(0, 0, 0, 0), encodeFrame(bytes(2))]));
    expect(r.frames).toEqual([bytes(1)]);
    expect(r.error).toMatchObject({ kind: 'empty-frame' });
    expect(dec.failed).toBe(true);
  });

  it('ignores empty chunks', () => {
    const dec = new FrameDecoder();
    expect(dec.push(new Uint8Array(0))).toEqual({ frames: [], error: null });
  });
});
