/**
 * The wire schema: one type code and an ordered field list per message type. The mapped types make
 * the compiler reject a schema that misses a field of the message union or gives it a kind that
 * cannot hold its TypeScript type; object key order is the wire order.
 */
import type { ForwardedRequest, PeerMessage, PeerMessageType, PeerState, Txn } from '../protocol/messages.js';

/**
 * Field kinds:
 *  - u32: non-negative integer <= 2^32-1 (epochs, rounds, server ids), smallest msgpack uint format
 *  - u53: non-negative safe integer (byte sizes/offsets that may exceed 4 GiB)
 *  - zxid: bigint 0..2^64-1, always written as msgpack uint64 (0xcf + 8 bytes)
 *  - bool, bin (Uint8Array), str (UTF-8)
 *  - state: PeerState as a small uint code (see PEER_STATES)
 *  - txns: flat array [zxid0, data0, zxid1, data1, ...]
 *  - requests: flat array [id0, data0, id1, data1, ...]
 */
export type FieldKind = 'u32' | 'u53' | 'zxid' | 'bool' | 'bin' | 'str' | 'state' | 'txns' | 'requests';

type KindFor<V> = [V] extends [bigint]
  ? 'zxid'
  : [V] extends [number]
    ? 'u32' | 'u53'
    : [V] extends [boolean]
      ? 'bool'
      : [V] extends [Uint8Array]
        ? 'bin'
        : [V] extends [PeerState]
          ? 'state'
          : [V] extends [string]
            ? 'str'
            : [V] extends [Txn[]]
              ? 'txns'
              : [V] extends [ForwardedRequest[]]
                ? 'requests'
                : never;

type MessageOf<T extends PeerMessageType> = Extract<PeerMessage, { type: T }>;
type FieldsOf<T extends PeerMessageType> = {
  readonly [K in Exclude<keyof MessageOf<T>, 'type'>]-?: KindFor<MessageOf<T>[K]>;
};
type SchemaTable = { readonly [T in PeerMessageType]: { readonly code: number; readonly fields: FieldsOf<T> } };

/** Wire codes for PeerState; the index is the code. Never reorder: append only. */
export const PEER_STATES: readonly PeerState[] = ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING'];

/** Type codes are part of the wire format: never renumber, only add. */
export const WIRE_SCHEMA: SchemaTable = {
  NOTIFICATION: { code: 1, fields: { leader: 'u32', zxid: 'zxid', peerEpoch: 'u32', round: 'u32', state: 'state' } },
  FOLLOWERINFO: { code: 2, fields: { acceptedEpoch: 'u32', lastZxid: 'zxid', observer: 'bool' } },
  LEADERINFO: { code: 3, fields: { newEpoch: 'u32' } },
  ACKEPOCH: { code: 4, fields: { currentEpoch: 'u32', lastZxid: 'zxid', counted: 'bool' } },
  DIFF: { code: 5, fields: { zxid: 'zxid' } },
  TRUNC: { code: 6, fields: { zxid: 'zxid' } },
  SNAP: { code: 7, fields: { zxid: 'zxid', size: 'u53' } },
  SNAPCHUNK: { code: 8, fields: { offset: 'u53', data: 'bin', last: 'bool' } },
  NEWLEADER: { code: 9, fields: { epoch: 'u32', zxid: 'zxid' } },
  ACKNEWLEADER: { code: 10, fields: { epoch: 'u32' } },
  UPTODATE: { code: 11, fields: { committed: 'zxid' } },
  PROPOSAL: { code: 12, fields: { txns: 'txns' } },
  ACK: { code: 13, fields: { zxid: 'zxid' } },
  COMMIT: { code: 14, fields: { zxid: 'zxid' } },
  INFORM: { code: 15, fields: { txns: 'txns' } },
  PING: { code: 16, fields: { zxid: 'zxid' } },
  REQUEST: { code: 17, fields: { requests: 'requests' } },
  SYNC: { code: 18, fields: { id: 'str' } },
  SYNCREPLY: { code: 19, fields: { id: 'str', zxid: 'zxid' } },
  LEADERACK: { code: 20, fields: { zxid: 'zxid' } },
};

/** Runtime form of one schema entry. */
export interface MessageSpec {
  readonly type: PeerMessageType;
  readonly code: number;
  readonly names: readonly string[];
  readonly kinds: readonly FieldKind[];
}

export const SPEC_BY_TYPE = new Map<string, MessageSpec>();
/** Indexed by type code; holes are unknown codes. */
export const SPEC_BY_CODE: (MessageSpec | undefined)[] = [];

for (const [type, entry] of Object.entries(WIRE_SCHEMA) as [PeerMessageType, SchemaTable[PeerMessageType]][]) {
  const fields = Object.entries(entry.fields) as [string, FieldKind][];
  const spec: MessageSpec = { type, code: entry.code, names: fields.map((f) => f[0]), kinds: fields.map((f) => f[1]) };
  if (SPEC_BY_CODE[entry.code]) throw new Error(`duplicate wire code ${entry.code} for ${type}`);
  SPEC_BY_CODE[entry.code] = spec;
  SPEC_BY_TYPE.set(type, spec);
}
