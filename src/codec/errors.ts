/**
 * Typed protocol errors produced by the wire codec. They are values, not exceptions: a peer sending
 * garbage is an expected event on the network, and the connection owner decides what to do (close).
 */
import type { PeerMessageType } from '../protocol/messages.js';

export type ProtocolErrorKind =
  /** the payload ends inside a value (or is empty) */
  | 'truncated'
  /** a frame length prefix exceeds the configured maximum */
  | 'oversized'
  /** a frame length prefix of 0: never produced by the encoder */
  | 'empty-frame'
  /** not the expected message layout: bad MessagePack byte, top level not an array, wrong arity */
  | 'malformed'
  /** the type code names no known message */
  | 'unknown-type'
  /** a field has the wrong MessagePack type or a value outside its domain */
  | 'bad-field'
  /** bytes left over after a complete message */
  | 'trailing-bytes';

export interface ProtocolError {
  readonly kind: ProtocolErrorKind;
  /** human-readable, names the message type and field at fault where known */
  readonly message: string;
  /** the message type being decoded, once the type code was read */
  readonly type?: PeerMessageType;
  /** dotted field path within the message, e.g. `txns[3].zxid` */
  readonly field?: string;
}

export function protocolError(
  kind: ProtocolErrorKind,
  message: string,
  type?: PeerMessageType,
  field?: string,
): ProtocolError {
  const e: { kind: ProtocolErrorKind; message: string; type?: PeerMessageType; field?: string } = { kind, message };
  if (type !== undefined) e.type = type;
  if (field !== undefined) e.field = field;
  return e;
}

export const PROTOCOL_ERROR_KINDS: readonly ProtocolErrorKind[] = [
  'truncated',
  'oversized',
  'empty-frame',
  'malformed',
  'unknown-type',
  'bad-field',
  'trailing-bytes',
];
