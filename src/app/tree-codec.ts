/**
 * The data tree's internal byte formats: requests (server -> leader), txns (the replicated log) and
 * results (apply -> the server that answers the client). Each is a MessagePack array led by a small
 * op code rather than a map: no keys to write, read and intern, which made these encodings a good
 * part of every write's CPU on the leader and the followers. Decoding also accepts the map form of
 * earlier versions (a txn log written by them stays readable), and anything that is not one of the
 * known shapes travels as a map, so a malformed request still reaches prepare() to be refused there.
 */
import { Packr } from 'msgpackr';
import type { DataTreeOp, DataTreeOpResult, DataTreeOpTxn, DataTreeRequest, DataTreeResult, DataTreeTxn, MultiOpErrorCode, Stat } from './data-tree.js';

const packr = new Packr({ useRecords: false });

const CREATE = 1;
const DELETE = 2;
const SET_DATA = 3;
const CHECK = 4;
const MULTI = 5;
const ERROR = 6;
/** a result's failure (ok: false) */
const FAILED = 0;

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number';

// ---------------------------------------------------------------- requests

function requestOpTuple(o: DataTreeOp): unknown[] | null {
  if (!o || typeof o !== 'object' || !isStr(o.path)) return null;
  switch (o.op) {
    case 'create':
      return isBytes(o.data) && (o.sequential === undefined || typeof o.sequential === 'boolean') ? [CREATE, o.path, o.data, o.sequential === true ? 1 : 0] : null;
    case 'delete':
      return isNum(o.version) ? [DELETE, o.path, o.version] : null;
    case 'setData':
      return isBytes(o.data) && isNum(o.version) ? [SET_DATA, o.path, o.data, o.version] : null;
    case 'check':
      return isNum(o.version) ? [CHECK, o.path, o.version] : null;
    default:
      return null;
  }
}

function requestOpFromTuple(t: unknown[]): DataTreeOp | unknown {
  switch (t[0]) {
    case CREATE:
      return t[3] === 1 ? { op: 'create', path: t[1], data: t[2], sequential: true } : { op: 'create', path: t[1], data: t[2] };
    case DELETE:
      return { op: 'delete', path: t[1], version: t[2] };
    case SET_DATA:
      return { op: 'setData', path: t[1], data: t[2], version: t[3] };
    case CHECK:
      return { op: 'check', path: t[1], version: t[2] };
    default:
      return t; // not an op: prepare() refuses it
  }
}

export function encodeTreeRequest(r: DataTreeRequest): Uint8Array {
  if (r && typeof r === 'object' && r.op === 'multi' && Array.isArray(r.ops)) {
    const ops = r.ops.map((o) => requestOpTuple(o));
    if (ops.every((o) => o !== null)) return packr.pack([MULTI, ops]);
  } else {
    const t = requestOpTuple(r as DataTreeOp);
    if (t) return packr.pack(t);
  }
  return packr.pack(r);
}

export function decodeTreeRequest(b: Uint8Array): DataTreeRequest {
  const v = packr.unpack(b) as unknown;
  if (!Array.isArray(v)) return v as DataTreeRequest;
  if (v[0] === MULTI && Array.isArray(v[1])) return { op: 'multi', ops: (v[1] as unknown[]).map((o) => (Array.isArray(o) ? requestOpFromTuple(o) : o)) as DataTreeOp[] };
  return requestOpFromTuple(v) as DataTreeRequest;
}

// ---------------------------------------------------------------- txns

type AnyTxn = DataTreeOpTxn | { op: 'error'; code: MultiOpErrorCode; path: string };

function txnTuple(t: AnyTxn): unknown[] {
  switch (t.op) {
    case 'create':
      return [CREATE, t.path, t.data, t.parentCversion, t.time];
    case 'delete':
      return [DELETE, t.path, t.parentCversion];
    case 'setData':
      return [SET_DATA, t.path, t.data, t.version, t.time];
    case 'check':
      return [CHECK, t.path];
    case 'error':
      return [ERROR, t.code, t.path];
  }
}

function txnFromTuple(t: unknown[]): AnyTxn {
  switch (t[0]) {
    case CREATE:
      return { op: 'create', path: t[1] as string, data: t[2] as Uint8Array, parentCversion: t[3] as number, time: t[4] as number };
    case DELETE:
      return { op: 'delete', path: t[1] as string, parentCversion: t[2] as number };
    case SET_DATA:
      return { op: 'setData', path: t[1] as string, data: t[2] as Uint8Array, version: t[3] as number, time: t[4] as number };
    case CHECK:
      return { op: 'check', path: t[1] as string };
    case ERROR:
      return { op: 'error', code: t[1] as MultiOpErrorCode, path: t[2] as string };
    default:
      throw new Error(`unknown data tree txn code ${String(t[0])}`);
  }
}

export function encodeTreeTxn(t: DataTreeTxn): Uint8Array {
  return packr.pack(t.op === 'multi' ? [MULTI, t.txns.map(txnTuple)] : txnTuple(t));
}

export function decodeTreeTxn(b: Uint8Array): DataTreeTxn {
  const v = packr.unpack(b) as unknown;
  if (!Array.isArray(v)) return v as DataTreeTxn; // the map form of earlier versions
  if (v[0] === MULTI) return { op: 'multi', txns: (v[1] as unknown[][]).map(txnFromTuple) };
  return txnFromTuple(v) as DataTreeTxn;
}

// ---------------------------------------------------------------- results

const statTuple = (s: Stat): unknown[] => [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion, s.ephemeralOwner, s.dataLength, s.numChildren];

function statFromTuple(t: unknown[]): Stat {
  return {
    czxid: BigInt(t[0] as bigint),
    mzxid: BigInt(t[1] as bigint),
    pzxid: BigInt(t[2] as bigint),
    ctime: t[3] as number,
    mtime: t[4] as number,
    version: t[5] as number,
    cversion: t[6] as number,
    aversion: t[7] as number,
    ephemeralOwner: t[8] as number,
    dataLength: t[9] as number,
    numChildren: t[10] as number,
  };
}

function opResultTuple(r: DataTreeOpResult): unknown[] {
  switch (r.op) {
    case 'create':
      return [CREATE, r.path, statTuple(r.stat)];
    case 'delete':
      return [DELETE, r.path];
    case 'setData':
      return [SET_DATA, r.path, statTuple(r.stat)];
    case 'check':
      return [CHECK, r.path];
  }
}

function opResultFromTuple(t: unknown[]): DataTreeOpResult {
  switch (t[0]) {
    case CREATE:
      return { op: 'create', path: t[1] as string, stat: statFromTuple(t[2] as unknown[]) };
    case DELETE:
      return { op: 'delete', path: t[1] as string };
    case SET_DATA:
      return { op: 'setData', path: t[1] as string, stat: statFromTuple(t[2] as unknown[]) };
    case CHECK:
      return { op: 'check', path: t[1] as string };
    default:
      throw new Error(`unknown data tree result code ${String(t[0])}`);
  }
}

export function encodeTreeResult(r: DataTreeResult): Uint8Array {
  if (!r.ok) {
    const t: unknown[] = [FAILED, r.code, r.path];
    if (r.results) t.push(r.results.map((e) => [e.code, e.path]));
    return packr.pack(t);
  }
  return packr.pack(r.op === 'multi' ? [MULTI, r.results.map(opResultTuple)] : opResultTuple(r));
}

export function decodeTreeResult(b: Uint8Array): DataTreeResult {
  const v = packr.unpack(b) as unknown;
  if (!Array.isArray(v)) return v as DataTreeResult;
  if (v[0] === FAILED) {
    const failed: DataTreeResult = { ok: false, code: v[1] as Extract<DataTreeResult, { ok: false }>['code'], path: v[2] as string };
    if (Array.isArray(v[3])) failed.results = (v[3] as [MultiOpErrorCode, string][]).map(([code, path]) => ({ op: 'error', code, path }));
    return failed;
  }
  if (v[0] === MULTI) return { ok: true, op: 'multi', results: (v[1] as unknown[][]).map(opResultFromTuple) };
  return { ok: true, ...opResultFromTuple(v) };
}
