/**
 * The client protocol, shared by the server's client port and the client library.
 *
 * Wire: each frame is a 4-byte big-endian length and a MessagePack payload (msgpackr, useRecords off,
 * so any MessagePack implementation can speak it). Requests carry a client-chosen numeric `id`; the
 * server answers every request exactly once, in the order the requests arrived on that connection.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';

export const DEFAULT_CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

const key = z.string().min(1).max(4096);
const version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const reqId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const clientRequestSchema = z.discriminatedUnion('op', [
  z.object({ id: reqId, op: z.literal('put'), key, value: z.string() }),
  z.object({ id: reqId, op: z.literal('cas'), key, expectedVersion: version, value: z.string() }),
  z.object({ id: reqId, op: z.literal('delete'), key, expectedVersion: version.optional() }),
  z.object({ id: reqId, op: z.literal('get'), key }),
  z.object({ id: reqId, op: z.literal('sync') }),
  z.object({ id: reqId, op: z.literal('status') }),
]);

export type ClientRequest = z.infer<typeof clientRequestSchema>;
export type ClientOp = ClientRequest['op'];
/** A request before the connection gives it an id. */
export type ClientCall = ClientRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * Error codes. Retryable on another server without risk: NotServing (the request was never ordered).
 * ConnectionLoss: the server lost its leader while the request was in flight; it may or may not
 * have been committed. BadVersion/NoNode: the (committed) outcome of a conditional write.
 */
export type ClientErrorCode = 'NotServing' | 'ConnectionLoss' | 'BadVersion' | 'NoNode' | 'BadRequest' | 'Internal';

/** Result of put/cas/delete: the txn's zxid and the key's version after it (0 after a delete). */
export interface WriteResult {
  zxid: string;
  version: number;
}

/** Result of get: value null (version 0) when the key does not exist; zxid is what the server had applied. */
export interface GetResult {
  key: string;
  value: string | null;
  version: number;
  zxid: string;
}

export interface SyncResult {
  zxid: string;
}

export interface ServerStatus {
  serverId: number;
  role: string;
  phase: string;
  leader: number | null;
  epoch: number;
  lastZxid: string;
  lastCommitted: string;
  lastApplied: string;
  /** Learners a leader sees (id and phase), when leading. */
  learners?: { id: number; phase: string; lastZxid: string }[];
  clientAddress: string;
  connections: number;
  pid: number;
  uptimeMs: number;
}

export type ClientResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ClientErrorCode; message: string; zxid?: string } };

const packr = new Packr({ useRecords: false });

export function encodeMessage(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeMessage(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** Parses a request frame; returns a reason string when it is not a valid request. */
export function parseRequest(bytes: Uint8Array): ClientRequest | string {
  let raw: unknown;
  try {
    raw = decodeMessage(bytes);
  } catch (e) {
    return `not MessagePack: ${e instanceof Error ? e.message : String(e)}`;
  }
  const r = clientRequestSchema.safeParse(raw);
  if (!r.success) return `not a valid request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
  return r.data;
}

const responseSchema = z.union([
  z.object({ id: reqId, ok: z.literal(true), result: z.unknown() }),
  z.object({
    id: reqId,
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string(), zxid: z.string().optional() }),
  }),
]);

export function parseResponse(bytes: Uint8Array): ClientResponse | string {
  let raw: unknown;
  try {
    raw = decodeMessage(bytes);
  } catch (e) {
    return `not MessagePack: ${e instanceof Error ? e.message : String(e)}`;
  }
  const r = responseSchema.safeParse(raw);
  if (!r.success) return 'not a valid response';
  return r.data as ClientResponse;
}

/** Parses `host:port[,host:port...]` (IPv6 in brackets). */
export function parseHostPorts(text: string): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):([0-9]{1,5})$/.exec(part);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) throw new Error(`bad server address '${part}': expected host:port (e.g. 127.0.0.1:2181)`);
    out.push({ host: (m[1] ?? m[2])!, port });
  }
  if (out.length === 0) throw new Error(`no server addresses in '${text}': expected host:port[,host:port...]`);
  return out;
}

export function formatHostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
