/**
 * The client protocol, shared by the server's client port and the client library.
 *
 * Wire: each frame is a 4-byte big-endian length and a MessagePack payload (msgpackr, useRecords off,
 * so any MessagePack implementation can speak it). Requests carry a client-chosen numeric `id`; the
 * server answers every request exactly once, in the order the requests arrived on that connection.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { isVersion, type Stat } from '../app/data-tree.js';
import { formatZxid } from '../zxid.js';

export const DEFAULT_CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

const path = z.string().min(1).max(4096);
const data = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes (MessagePack bin)' });
/** a znode data version; -1 matches any version */
const version = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER);
const reqId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const createOp = z.object({ op: z.literal('create'), path, data, sequential: z.boolean().optional() });
const deleteOp = z.object({ op: z.literal('delete'), path, version: version.optional() });
const setDataOp = z.object({ op: z.literal('setData'), path, data, version: version.optional() });
const checkOp = z.object({ op: z.literal('check'), path, version });

/** One operation of a multi (check exists only there, as in ZooKeeper). */
export const multiOpSchema = z.discriminatedUnion('op', [createOp, deleteOp, setDataOp, checkOp]);
export type MultiOp = z.infer<typeof multiOpSchema>;

export const clientRequestSchema = z.discriminatedUnion('op', [
  createOp.extend({ id: reqId }),
  deleteOp.extend({ id: reqId }),
  setDataOp.extend({ id: reqId }),
  z.object({ id: reqId, op: z.literal('multi'), ops: z.array(multiOpSchema).max(10_000) }),
  z.object({ id: reqId, op: z.literal('getData'), path }),
  z.object({ id: reqId, op: z.literal('exists'), path }),
  z.object({ id: reqId, op: z.literal('getChildren'), path }),
  z.object({ id: reqId, op: z.literal('sync') }),
  z.object({ id: reqId, op: z.literal('status') }),
]);

export type ClientRequest = z.infer<typeof clientRequestSchema>;
export type ClientOp = ClientRequest['op'];
/** A request before the connection gives it an id. */
export type ClientCall = ClientRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** Reads: answered from the connected server's tree, in order with the connection's writes. */
export const READ_OPS: ReadonlySet<ClientOp> = new Set<ClientOp>(['getData', 'exists', 'getChildren', 'status']);

/**
 * Error codes. Retryable on another server without risk: NotServing (the request was never ordered).
 * ConnectionLoss: the server lost its leader while the request was in flight; it may or may not
 * have been committed. NoNode/NodeExists/BadVersion/NotEmpty/BadArguments: ZooKeeper's outcomes of a
 * data-tree operation (for a write, committed as an error txn: `zxid` says which).
 */
export type ClientErrorCode =
  | 'NotServing'
  | 'ConnectionLoss'
  | 'NoNode'
  | 'NodeExists'
  | 'BadVersion'
  | 'NotEmpty'
  | 'BadArguments'
  | 'BadRequest'
  | 'Internal';

/** A znode's stat, zxids as 0x-prefixed hex. */
export interface ZnodeStat {
  czxid: string;
  mzxid: string;
  pzxid: string;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: number;
  dataLength: number;
  numChildren: number;
}

export function toZnodeStat(s: Stat): ZnodeStat {
  return {
    czxid: formatZxid(s.czxid),
    mzxid: formatZxid(s.mzxid),
    pzxid: formatZxid(s.pzxid),
    ctime: s.ctime,
    mtime: s.mtime,
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: s.ephemeralOwner,
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

/** create: the node's path (with the sequential suffix, if any) and stat, and the txn's zxid. */
export interface CreateResult {
  zxid: string;
  path: string;
  stat: ZnodeStat;
}

export interface SetDataResult {
  zxid: string;
  path: string;
  stat: ZnodeStat;
}

export interface DeleteResult {
  zxid: string;
  path: string;
}

export type MultiOpResult =
  | { op: 'create'; path: string; stat: ZnodeStat }
  | { op: 'delete'; path: string }
  | { op: 'setData'; path: string; stat: ZnodeStat }
  | { op: 'check'; path: string };

export interface MultiResult {
  zxid: string;
  results: MultiOpResult[];
}

/** In a failed multi's error: each op's code (Ok before the failing one, RuntimeInconsistency after). */
export interface MultiOpError {
  op: 'error';
  code: string;
  path: string;
}

/** Reads: `zxid` is what the answering server had applied. */
export interface GetDataResult {
  path: string;
  data: Uint8Array;
  stat: ZnodeStat;
  zxid: string;
}

export interface ExistsResult {
  path: string;
  /** null when the node does not exist */
  stat: ZnodeStat | null;
  zxid: string;
}

export interface GetChildrenResult {
  path: string;
  /** sorted */
  children: string[];
  stat: ZnodeStat;
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
  /** znodes in the server's tree, root included */
  znodes?: number;
  /** the server process's memory (process.memoryUsage(), bytes) */
  memory?: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  clientAddress: string;
  connections: number;
  pid: number;
  uptimeMs: number;
}

export type ClientResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ClientErrorCode; message: string; zxid?: string; results?: MultiOpError[] } };

const packr = new Packr({ useRecords: false });

export function encodeMessage(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeMessage(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

const isReqId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPath = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 4096;

/**
 * The requests a busy server sees most (setData, create, getData), checked by hand: the same rules as
 * the schema, and the same output (only the schema's keys). Null for anything else, which the schema
 * then judges (and explains). The schema's cost per request was a visible part of a write's CPU.
 */
function commonRequest(raw: unknown): ClientRequest | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (!isReqId(r.id) || !isPath(r.path)) return null;
  switch (r.op) {
    case 'setData':
      if (!(r.data instanceof Uint8Array) || !(r.version === undefined || isVersion(r.version))) return null;
      return r.version === undefined ? { id: r.id, op: 'setData', path: r.path, data: r.data } : { id: r.id, op: 'setData', path: r.path, data: r.data, version: r.version };
    case 'create':
      if (!(r.data instanceof Uint8Array) || !(r.sequential === undefined || typeof r.sequential === 'boolean')) return null;
      return r.sequential === undefined ? { id: r.id, op: 'create', path: r.path, data: r.data } : { id: r.id, op: 'create', path: r.path, data: r.data, sequential: r.sequential };
    case 'getData':
      return { id: r.id, op: 'getData', path: r.path };
    default:
      return null;
  }
}

/** Parses a request frame; returns a reason string when it is not a valid request. */
export function parseRequest(bytes: Uint8Array): ClientRequest | string {
  let raw: unknown;
  try {
    raw = decodeMessage(bytes);
  } catch (e) {
    return `not MessagePack: ${e instanceof Error ? e.message : String(e)}`;
  }
  const common = commonRequest(raw);
  if (common) return common;
  const r = clientRequestSchema.safeParse(raw);
  if (!r.success) return `not a valid request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
  return r.data;
}

const responseSchema = z.union([
  z.object({ id: reqId, ok: z.literal(true), result: z.unknown() }),
  z.object({
    id: reqId,
    ok: z.literal(false),
    error: z.object({
      code: z.string(),
      message: z.string(),
      zxid: z.string().optional(),
      results: z.array(z.object({ op: z.literal('error'), code: z.string(), path: z.string() })).optional(),
    }),
  }),
]);

export function parseResponse(bytes: Uint8Array): ClientResponse | string {
  let raw: unknown;
  try {
    raw = decodeMessage(bytes);
  } catch (e) {
    return `not MessagePack: ${e instanceof Error ? e.message : String(e)}`;
  }
  // A success (the common case) needs no schema: its result is anything; the caller checks its shape.
  if (raw && typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    if (o.ok === true && isReqId(o.id) && 'result' in o) return { id: o.id, ok: true, result: o.result };
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
