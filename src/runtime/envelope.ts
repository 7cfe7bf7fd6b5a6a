/**
 * A txn's bytes as replicated: the id of the request it came from (so the server that took the
 * request can answer its client when the txn is applied) and the application's txn.
 *
 * Layout: 0x01, the id's UTF-8 length (uint16 big-endian), the id, then the app's txn to the end.
 * Decoding returns the txn as a view of the envelope (no copy). Envelopes of earlier versions were a
 * MessagePack array [id, txn] (first byte 0x92) and still decode.
 */
import { Packr } from 'msgpackr';

const FORMAT = 0x01;
const LEGACY_MSGPACK = 0x92;
const MAX_ID_BYTES = 0xffff;

const legacy = new Packr({ useRecords: false, moreTypes: false });

export interface Envelope {
  /** request id, `<sid>.<incarnation>.<seq>`; empty for txns no client waits for */
  id: string;
  op: Uint8Array;
}

export function encodeEnvelope(id: string, op: Uint8Array): Uint8Array {
  const idBytes = Buffer.byteLength(id, 'utf8');
  if (idBytes > MAX_ID_BYTES) throw new Error(`request id of ${idBytes} bytes (at most ${MAX_ID_BYTES})`);
  const out = Buffer.allocUnsafe(3 + idBytes + op.length);
  out[0] = FORMAT;
  out.writeUInt16BE(idBytes, 1);
  out.write(id, 3, 'utf8');
  out.set(op, 3 + idBytes);
  return out;
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data[0] === FORMAT && data.length >= 3) {
    const idBytes = (data[1]! << 8) | data[2]!;
    if (3 + idBytes > data.length) throw new Error('corrupt txn envelope');
    const id = idBytes === 0 ? '' : Buffer.from(data.buffer, data.byteOffset + 3, idBytes).toString('utf8');
    return { id, op: data.subarray(3 + idBytes) };
  }
  if (data[0] === LEGACY_MSGPACK) {
    const v = legacy.unpack(data) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && v[1] instanceof Uint8Array) return { id: v[0], op: v[1] };
  }
  throw new Error('corrupt txn envelope');
}
