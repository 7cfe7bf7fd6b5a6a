/**
 * The connection handshake: the first frame on every connection of either channel, before any
 * PeerMessage. It is not a PeerMessage (the peer codec never sees it) and has a layout of its own:
 *
 *   u32 BE  payload length (a frame, as every frame on the stream)
 *   4 B     magic "ZABH"
 *   u16 BE  protocol version
 *   u8      channel: 1 election, 2 quorum
 *   u8      kind: 1 hello (connector), 2 accept (acceptor), 3 reject (acceptor)
 *   u32 BE  sender's server id
 *   u16 BE  cluster id byte length, then the cluster id (UTF-8)
 *   u16 BE  reason byte length, then the reason (UTF-8; empty unless reject)
 *
 * The connector sends a hello; the acceptor checks it and answers accept (the connection is then
 * open both ways) or reject (with the reason, then it closes). Payloads are small and bounded, so a
 * stream that does not start with a plausible handshake (a port scanner, an HTTP client, a ZooKeeper
 * server) is detected within its first bytes.
 */
import type { ServerSpec } from '../config/types.js';
import type { ServerId } from '../protocol/messages.js';
import type { Channel } from './types.js';

export const HANDSHAKE_MAGIC = 0x5a414248; // "ZABH"
export const PROTOCOL_VERSION = 1;
export const MAX_CLUSTER_ID_BYTES = 256;
export const MAX_REASON_BYTES = 512;
const FIXED_SIZE = 4 + 2 + 1 + 1 + 4 + 2 + 2;
/** largest handshake payload: anything longer is not a handshake */
export const MAX_HANDSHAKE_BYTES = FIXED_SIZE + MAX_CLUSTER_ID_BYTES + MAX_REASON_BYTES;

export type HandshakeKind = 'hello' | 'accept' | 'reject';

export interface Handshake {
  version: number;
  channel: Channel;
  kind: HandshakeKind;
  sid: ServerId;
  clusterId: string;
  reason: string;
}

const CHANNEL_CODE: Record<Channel, number> = { election: 1, quorum: 2 };
const KIND_CODE: Record<HandshakeKind, number> = { hello: 1, accept: 2, reject: 3 };

function truncateUtf8(s: string, maxBytes: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= maxBytes) return b;
  // Cut on a character boundary so the receiver sees valid UTF-8.
  let end = maxBytes;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/** The whole frame (length prefix included). Throws RangeError for a cluster id over 256 bytes. */
export function encodeHandshake(h: Omit<Handshake, 'version' | 'reason'> & { version?: number; reason?: string }): Buffer {
  const cluster = Buffer.from(h.clusterId, 'utf8');
  if (cluster.length > MAX_CLUSTER_ID_BYTES) {
    throw new RangeError(`cluster id is ${cluster.length} bytes; at most ${MAX_CLUSTER_ID_BYTES} are allowed`);
  }
  if (!Number.isInteger(h.sid) || h.sid < 0 || h.sid > 0xffffffff) throw new RangeError(`bad server id ${h.sid}`);
  const reason = truncateUtf8(h.reason ?? '', MAX_REASON_BYTES);
  const size = FIXED_SIZE + cluster.length + reason.length;
  const out = Buffer.allocUnsafe(4 + size);
  let p = out.writeUInt32BE(size, 0);
  p = out.writeUInt32BE(HANDSHAKE_MAGIC, p);
  p = out.writeUInt16BE(h.version ?? PROTOCOL_VERSION, p);
  p = out.writeUInt8(CHANNEL_CODE[h.channel], p);
  p = out.writeUInt8(KIND_CODE[h.kind], p);
  p = out.writeUInt32BE(h.sid, p);
  p = out.writeUInt16BE(cluster.length, p);
  p += cluster.copy(out, p);
  p = out.writeUInt16BE(reason.length, p);
  reason.copy(out, p);
  return out;
}

export type HandshakeDecode = { ok: true; handshake: Handshake } | { ok: false; reason: string };

/** Decodes a handshake payload (without its length prefix). Never throws. */
export function decodeHandshake(payload: Uint8Array): HandshakeDecode {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length < FIXED_SIZE) return { ok: false, reason: `handshake of ${b.length} bytes is too short` };
  if (b.readUInt32BE(0) !== HANDSHAKE_MAGIC) return { ok: false, reason: 'handshake does not start with the ZABH magic' };
  const version = b.readUInt16BE(4);
  const channel = b[6] === 1 ? 'election' : b[6] === 2 ? 'quorum' : null;
  if (channel === null) return { ok: false, reason: `unknown channel code ${b[6]}` };
  const kind = b[7] === 1 ? 'hello' : b[7] === 2 ? 'accept' : b[7] === 3 ? 'reject' : null;
  if (kind === null) return { ok: false, reason: `unknown handshake kind ${b[7]}` };
  const sid = b.readUInt32BE(8);
  const clusterLen = b.readUInt16BE(12);
  if (clusterLen > MAX_CLUSTER_ID_BYTES || 14 + clusterLen + 2 > b.length) {
    return { ok: false, reason: `bad cluster id length ${clusterLen}` };
  }
  const clusterId = b.toString('utf8', 14, 14 + clusterLen);
  const reasonAt = 14 + clusterLen;
  const reasonLen = b.readUInt16BE(reasonAt);
  if (reasonAt + 2 + reasonLen !== b.length) return { ok: false, reason: 'handshake length does not match its fields' };
  const reason = b.toString('utf8', reasonAt + 2, reasonAt + 2 + reasonLen);
  return { ok: true, handshake: { version, channel, kind, sid, clusterId, reason } };
}

export type ReadStep =
  | { state: 'need-more' }
  | { state: 'done'; handshake: Handshake; leftover: Uint8Array }
  | { state: 'error'; reason: string; garbage: boolean };

/**
 * Reads the first frame of a stream as a handshake, chunk by chunk. Bytes after it (peer messages
 * that followed at once) are returned as `leftover` for the message decoder.
 */
export class HandshakeReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): ReadStep {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.buf, chunk]);
    if (this.buf.length < 4) return { state: 'need-more' };
    const size = this.buf.readUInt32BE(0);
    if (size === 0 || size > MAX_HANDSHAKE_BYTES) {
      return {
        state: 'error',
        garbage: true,
        reason: `first frame announces ${size} bytes, not a handshake (at most ${MAX_HANDSHAKE_BYTES}); bytes 0x${this.buf.subarray(0, 8).toString('hex')}`,
      };
    }
    if (this.buf.length < 4 + size) return { state: 'need-more' };
    const decoded = decodeHandshake(this.buf.subarray(4, 4 + size));
    if (!decoded.ok) return { state: 'error', garbage: true, reason: decoded.reason };
    return { state: 'done', handshake: decoded.handshake, leftover: this.buf.subarray(4 + size) };
  }
}

/** Why an acceptor refuses a hello, and what the operator should check. */
export interface Refusal {
  reason: string;
  hint: string;
}

export interface AdmissionContext {
  self: ServerId;
  clusterId: string;
  servers: ReadonlyMap<ServerId, ServerSpec>;
  /** the channel of the port the hello arrived on */
  channel: Channel;
}

/** The acceptor's checks on a hello; null when the peer may proceed. Pure. */
export function checkHello(h: Handshake, ctx: AdmissionContext): Refusal | null {
  if (h.kind !== 'hello') {
    return { reason: `expected a hello, got a handshake ${h.kind}`, hint: 'the connecting program does not speak the zab peer protocol' };
  }
  if (h.version !== PROTOCOL_VERSION) {
    return {
      reason: `peer speaks protocol version ${h.version}, this server speaks ${PROTOCOL_VERSION}`,
      hint: 'run the same zab version on every server of the ensemble',
    };
  }
  if (h.clusterId !== ctx.clusterId) {
    return {
      reason: `peer belongs to cluster '${h.clusterId}', this server to '${ctx.clusterId}'`,
      hint: 'check clusterId in zoo.cfg and the server.N lines: two ensembles must not point at each other',
    };
  }
  if (h.channel !== ctx.channel) {
    return {
      reason: `a ${h.channel} hello arrived on the ${ctx.channel} port`,
      hint: 'check the order of ports in server.N=host:quorumPort:electionPort on both servers',
    };
  }
  if (h.sid === ctx.self) {
    return {
      reason: `peer claims this server's own id ${h.sid}`,
      hint: 'two servers share the same myid, or a server.N line points at the wrong host/port',
    };
  }
  const spec = ctx.servers.get(h.sid);
  if (!spec) {
    return {
      reason: `server id ${h.sid} is not in this server's configuration`,
      hint: 'check the myid file of the peer and that every server lists the same server.N lines',
    };
  }
  if (h.channel === 'election' && spec.role !== 'participant') {
    return {
      reason: `server ${h.sid} is an observer; observers take no part in elections`,
      hint: `check the role of server.${h.sid} (":observer") in the zoo.cfg of both servers`,
    };
  }
  if (h.channel === 'election' && ctx.servers.get(ctx.self)?.role !== 'participant') {
    return {
      reason: 'this server is an observer and takes no part in elections',
      hint: `check the role of server.${ctx.self} (":observer") in the zoo.cfg of both servers`,
    };
  }
  return null;
}

/** The connector's checks on the acceptor's answer; null when the connection is open. Pure. */
export function checkAnswer(h: Handshake, expected: { sid: ServerId; clusterId: string; channel: Channel }): Refusal | null {
  if (h.kind === 'reject') {
    return { reason: `refused by server ${h.sid}: ${h.reason}`, hint: 'see the log of the refusing server' };
  }
  if (h.kind !== 'accept') return { reason: `expected accept or reject, got ${h.kind}`, hint: 'the peer does not speak the zab peer protocol' };
  if (h.version !== PROTOCOL_VERSION) {
    return { reason: `peer speaks protocol version ${h.version}, this server ${PROTOCOL_VERSION}`, hint: 'run the same zab version everywhere' };
  }
  if (h.sid !== expected.sid) {
    return {
      reason: `expected server ${expected.sid} but server ${h.sid} answered`,
      hint: `check the host:port of server.${expected.sid} and the myid file of the server listening there`,
    };
  }
  if (h.clusterId !== expected.clusterId) {
    return {
      reason: `server ${h.sid} belongs to cluster '${h.clusterId}', this server to '${expected.clusterId}'`,
      hint: 'check clusterId in zoo.cfg on both servers',
    };
  }
  if (h.channel !== expected.channel) {
    return { reason: `answer for channel ${h.channel}, expected ${expected.channel}`, hint: 'check the port order in server.N lines' };
  }
  return null;
}
