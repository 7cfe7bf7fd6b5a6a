/**
 * Wire codec for server-to-server messages (PeerMessage).
 *
 * Format. A payload is one MessagePack array: [typeCode, field1, field2, ...] with the type code and
 * field order of WIRE_SCHEMA (schema.ts); no keys are sent. Field encodings:
 *   u32 / u53  smallest msgpack uint format (u32: epochs, rounds, server ids; u53: snapshot sizes/offsets)
 *   zxid       always uint64: 0xcf + 8 bytes big-endian
 *   bool       0xc2 / 0xc3
 *   bin        bin 8/16/32 (Uint8Array)
 *   str        str formats, UTF-8
 *   state      PeerState as uint: LOOKING=0 FOLLOWING=1 LEADING=2 OBSERVING=3
 *   txns       flat array [zxid0, data0, zxid1, data1, ...] (PROPOSAL, INFORM)
 *   requests   flat array [id0, data0, id1, data1, ...] (REQUEST)
 * e.g. COMMIT of zxid 0x100000005 is `92 0e cf 00 00 00 01 00 00 00 05` (11 bytes).
 * On the stream each payload is framed by frame.ts (4-byte big-endian length prefix).
 *
 * Decoding rules. Each payload decodes on its own (no state between calls). The decoder is strict
 * about shape: the array arity must match the schema exactly (extra fields are rejected, so a peer
 * speaking another format version is detected rather than half-understood), fields must have the
 * right msgpack type and be in range, and no bytes may follow the array. It is liberal only about
 * integer width: any msgpack integer format holding an in-range value is accepted (e.g. a zxid sent
 * as a fixint still decodes to a bigint), so other msgpack encoders interoperate. Only types and
 * shapes are checked; protocol rules (consecutive zxids in a batch, ...) belong to the protocol.
 *
 * Zero-copy: decoded `data` fields are Uint8Array views into the input bytes. They stay valid as
 * long as the input's memory is not reused; copy them if they must outlive a reused buffer.
 *
 * Encoding validates its input too (TypeError/RangeError on a value outside the wire domain, e.g. a
 * negative zxid), so the encoder never emits a payload the decoder would reject.
 */
import type { ForwardedRequest, PeerMessage, PeerState, Txn } from '../protocol/messages.js';
import { protocolError, type ProtocolError } from './errors.js';
import { checkFrameSize, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_SIZE, type FrameOptions } from './frame.js';
import {
  arrayHeaderSize,
  binSize,
  ReadFailure,
  Reader,
  strSize,
  uintSize,
  UINT64_SIZE,
  writeArrayHeader,
  writeBin,
  writeBool,
  writeStr,
  writeUint,
  writeUint64,
} from './msgpack.js';
import { PEER_STATES, SPEC_BY_CODE, SPEC_BY_TYPE, type FieldKind, type MessageSpec } from './schema.js';

export type DecodeResult = { ok: true; msg: PeerMessage } | { ok: false; error: ProtocolError };

const MAX_U32 = 0xffffffff;
const MAX_ZXID = 0xffffffffffffffffn;

// ---------------------------------------------------------------- encoding

/** The msgpack payload, without frame header. */
export function encodePeerMessage(msg: PeerMessage): Buffer {
  return encode(msg, 0);
}

/**
 * Frame header + payload in one Buffer of its own: encode once, write the same Buffer to every
 * follower's socket. Throws RangeError if the payload exceeds the maximum frame size.
 */
export function encodePeerFrame(msg: PeerMessage, options?: FrameOptions): Buffer {
  const out = encode(msg, FRAME_HEADER_SIZE, options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
  out.writeUInt32BE(out.length - FRAME_HEADER_SIZE, 0);
  return out;
}

type Fields = Record<string, unknown>;

function encode(msg: PeerMessage, headerSize: number, maxPayload = Infinity): Buffer {
  const spec = SPEC_BY_TYPE.get((msg as { type?: unknown }).type as string);
  if (!spec) throw new TypeError(`cannot encode message of unknown type ${String((msg as { type?: unknown }).type)}`);
  const fields = msg as unknown as Fields;
  const { names, kinds } = spec;
  // Pass 1: validate and size, so the output is allocated once at its exact size.
  let size = arrayHeaderSize(kinds.length + 1) + uintSize(spec.code);
  for (let i = 0; i < kinds.length; i++) size += fieldSize(spec, names[i], kinds[i], fields[names[i]]);
  if (maxPayload !== Infinity) checkFrameSize(size, maxPayload);
  // Pass 2: write.
  const buf = Buffer.allocUnsafe(headerSize + size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = writeArrayHeader(buf, dv, headerSize, kinds.length + 1);
  pos = writeUint(buf, dv, pos, spec.code);
  for (let i = 0; i < kinds.length; i++) pos = writeField(buf, dv, pos, kinds[i], fields[names[i]]);
  if (pos !== buf.length) throw new Error(`codec bug: ${spec.type} sized ${buf.length} bytes, wrote ${pos}`);
  return buf;
}

function invalid(spec: MessageSpec, field: string, expected: string, v: unknown): TypeError {
  const got = typeof v === 'bigint' || typeof v === 'number' ? String(v) : v === null ? 'null' : typeof v;
  return new TypeError(`cannot encode ${spec.type}.${field}: expected ${expected}, got ${got}`);
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v;
const isU53 = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isZxid = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= MAX_ZXID;

function fieldSize(spec: MessageSpec, field: string, kind: FieldKind, v: unknown): number {
  switch (kind) {
    case 'u32':
      if (!isU32(v)) throw invalid(spec, field, 'integer 0..2^32-1', v);
      return uintSize(v);
    case 'u53':
      if (!isU53(v)) throw invalid(spec, field, 'safe integer >= 0', v);
      return uintSize(v);
    case 'zxid':
      if (!isZxid(v)) throw invalid(spec, field, 'bigint 0..2^64-1', v);
      return UINT64_SIZE;
    case 'bool':
      if (typeof v !== 'boolean') throw invalid(spec, field, 'boolean', v);
      return 1;
    case 'bin':
      if (!(v instanceof Uint8Array)) throw invalid(spec, field, 'Uint8Array', v);
      return binSize(v.length);
    case 'str':
      if (typeof v !== 'string') throw invalid(spec, field, 'string', v);
      return strSize(Buffer.byteLength(v, 'utf8'));
    case 'state':
      if (!PEER_STATES.includes(v as PeerState)) throw invalid(spec, field, PEER_STATES.join('|'), v);
      return 1;
    case 'txns': {
      if (!Array.isArray(v)) throw invalid(spec, field, 'array', v);
      const txns = v as Txn[];
      let size = arrayHeaderSize(txns.length * 2);
      for (let i = 0; i < txns.length; i++) {
        const t = txns[i];
        if (!isZxid(t?.zxid)) throw invalid(spec, `${field}[${i}].zxid`, 'bigint 0..2^64-1', t?.zxid);
        if (!(t.data instanceof Uint8Array)) throw invalid(spec, `${field}[${i}].data`, 'Uint8Array', t.data);
        size += UINT64_SIZE + binSize(t.data.length);
      }
      return size;
    }
    case 'requests': {
      if (!Array.isArray(v)) throw invalid(spec, field, 'array', v);
      const reqs = v as ForwardedRequest[];
      let size = arrayHeaderSize(reqs.length * 2);
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i];
        if (typeof r?.id !== 'string') throw invalid(spec, `${field}[${i}].id`, 'string', r?.id);
        if (!(r.data instanceof Uint8Array)) throw invalid(spec, `${field}[${i}].data`, 'Uint8Array', r.data);
        size += strSize(Buffer.byteLength(r.id, 'utf8')) + binSize(r.data.length);
      }
      return size;
    }
  }
}

/** Values were validated by fieldSize. */
function writeField(buf: Buffer, dv: DataView, pos: number, kind: FieldKind, v: unknown): number {
  switch (kind) {
    case 'u32':
    case 'u53':
      return writeUint(buf, dv, pos, v as number);
    case 'zxid':
      return writeUint64(buf, dv, pos, v as bigint);
    case 'bool':
      return writeBool(buf, pos, v as boolean);
    case 'bin':
      return writeBin(buf, dv, pos, v as Uint8Array);
    case 'str': {
      const s = v as string;
      return writeStr(buf, dv, pos, s, Buffer.byteLength(s, 'utf8'));
    }
    case 'state':
      return writeUint(buf, dv, pos, PEER_STATES.indexOf(v as PeerState));
    case 'txns': {
      const txns = v as Txn[];
      pos = writeArrayHeader(buf, dv, pos, txns.length * 2);
      for (let i = 0; i < txns.length; i++) {
        pos = writeUint64(buf, dv, pos, txns[i].zxid);
        pos = writeBin(buf, dv, pos, txns[i].data);
      }
      return pos;
    }
    case 'requests': {
      const reqs = v as ForwardedRequest[];
      pos = writeArrayHeader(buf, dv, pos, reqs.length * 2);
      for (let i = 0; i < reqs.length; i++) {
        const id = reqs[i].id;
        pos = writeStr(buf, dv, pos, id, Buffer.byteLength(id, 'utf8'));
        pos = writeBin(buf, dv, pos, reqs[i].data);
      }
      return pos;
    }
  }
}

// ---------------------------------------------------------------- decoding

/** Where the decoder is, for error messages: `field`, or `field[index].sub` inside a batch. */
interface Cursor {
  field: string;
  index: number;
  sub: string;
}

function cursorPath(c: Cursor): string {
  return c.index < 0 ? c.field : `${c.field}[${c.index}].${c.sub}`;
}

/** Decodes one payload (without frame header). Never throws. */
export function decodePeerMessage(bytes: Uint8Array): DecodeResult {
  if (bytes.length === 0) return { ok: false, error: protocolError('truncated', 'empty payload') };
  const r = new Reader(bytes);
  const at: Cursor = { field: '', index: -1, sub: '' };
  let spec: MessageSpec | undefined;
  try {
    at.field = 'message';
    const n = r.arrayHeader();
    if (n === 0) return fail('malformed', 'message array is empty: no type code');
    at.field = 'type code';
    const code = r.uint(Number.MAX_SAFE_INTEGER);
    spec = SPEC_BY_CODE[code];
    if (!spec) return fail('unknown-type', `unknown message type code ${code}`);
    const arity = spec.kinds.length;
    if (n - 1 !== arity) return fail('malformed', `${spec.type}: expected ${arity} fields, got ${n - 1}`, spec);
    const msg: Fields = { type: spec.type };
    for (let i = 0; i < arity; i++) {
      at.field = spec.names[i];
      msg[at.field] = readField(r, spec.kinds[i], at);
    }
    if (r.pos !== r.end) return fail('trailing-bytes', `${spec.type}: ${r.end - r.pos} bytes after the message`, spec);
    return { ok: true, msg: msg as unknown as PeerMessage };
  } catch (e) {
    if (!(e instanceof ReadFailure)) {
      // A bug, not bad input; still never take the connection's owner down with an exception.
      return fail('malformed', `internal decoder error at byte ${r.pos}: ${String(e)}`, spec);
    }
    const path = cursorPath(at);
    // Before the type is known, a wrongly typed value means the message itself is malformed.
    const kind = spec === undefined && e.kind === 'bad-field' ? 'malformed' : e.kind;
    const prefix = spec ? `${spec.type}.${path}` : path;
    return fail(kind, `${prefix}: ${e.detail}`, spec, spec ? path : undefined);
  }
}

function fail(kind: ProtocolError['kind'], message: string, spec?: MessageSpec, field?: string): DecodeResult {
  return { ok: false, error: protocolError(kind, message, spec?.type, field) };
}

function readField(r: Reader, kind: FieldKind, at: Cursor): unknown {
  switch (kind) {
    case 'u32':
      return r.uint(MAX_U32);
    case 'u53':
      return r.uint(Number.MAX_SAFE_INTEGER);
    case 'zxid':
      return r.uint64();
    case 'bool':
      return r.bool();
    case 'bin':
      return r.bin();
    case 'str':
      return r.str();
    case 'state': {
      const code = r.uint(MAX_U32);
      const state = PEER_STATES[code];
      if (state === undefined) throw new ReadFailure('bad-field', `unknown peer state code ${code}`);
      return state;
    }
    case 'txns': {
      const count = pairCount(r);
      const txns: Txn[] = [];
      for (let i = 0; i < count; i++) {
        at.index = i;
        at.sub = 'zxid';
        const zxid = r.uint64();
        at.sub = 'data';
        txns.push({ zxid, data: r.bin() });
      }
      at.index = -1;
      return txns;
    }
    case 'requests': {
      const count = pairCount(r);
      const reqs: ForwardedRequest[] = [];
      for (let i = 0; i < count; i++) {
        at.index = i;
        at.sub = 'id';
        const id = r.str();
        at.sub = 'data';
        reqs.push({ id, data: r.bin() });
      }
      at.index = -1;
      return reqs;
    }
  }
}

/** Header of a flat [a0, b0, a1, b1, ...] array: must have an even element count. */
function pairCount(r: Reader): number {
  const n = r.arrayHeader();
  if (n % 2 !== 0) throw new ReadFailure('bad-field', `expected an even-length array of pairs, got ${n} elements`);
  return n / 2;
}
