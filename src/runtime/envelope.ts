/**
 * A txn's bytes as replicated: the id of the request it came from (so the server that took the
 * request can answer its client when the txn is applied) and the application's txn.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface Envelope {
  /** request id, `<sid>.<incarnation>.<seq>`; empty for txns no client waits for */
  id: string;
  op: Uint8Array;
}

export function encodeEnvelope(id: string, op: Uint8Array): Uint8Array {
  return packr.pack([id, op]);
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  const v = packr.unpack(data) as unknown;
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !(v[1] instanceof Uint8Array)) {
    throw new Error('corrupt txn envelope');
  }
  return { id: v[0], op: v[1] };
}
