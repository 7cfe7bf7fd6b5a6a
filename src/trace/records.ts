/**
 * Simulator trace records (the JSONL lines SimCluster writes, see src/sim/cluster.ts) and short,
 * human-readable labels for the wire messages in them. Pure: no I/O.
 *
 * A message in a `net.deliver` / `net.drop` line comes in one of three shapes:
 *  - `{type: 'Buffer', data: [...]}`: the encoded bytes (the default, wire mode): decoded here with
 *    the real peer codec;
 *  - a message object (`--no-wire`): zxids already formatted as hex strings, payload bytes as `<nB>`;
 *  - a string like `<123B>`: bytes that were not a Node Buffer; only the size is known.
 */
import { decodePeerMessage } from '../codec/peer-codec.js';
import { formatZxid } from '../zxid.js';

/** One parsed trace line: the common fields, and the rest as they were. */
export interface TraceRecord {
  t: number;
  step: number;
  kind: string;
  [field: string]: unknown;
}

/** Parses one JSONL line; null for blank or malformed lines (or lines without t/step/kind). */
export function parseTraceLine(line: string): TraceRecord | null {
  const s = line.trim();
  if (s === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.t !== 'number' || typeof r.step !== 'number' || typeof r.kind !== 'string') return null;
  return r as TraceRecord;
}

/** A wire message as the chart shows it. */
export interface MessageSummary {
  /** message type (NOTIFICATION, PROPOSAL, ...), or '?' when it could not be decoded */
  type: string;
  /** the type and its key fields, e.g. "PROPOSAL 0x100000001..0x100000004 (4)" */
  label: string;
  /** every field, for the tooltip */
  detail: string;
}

function zx(v: unknown): string {
  if (typeof v === 'bigint') return formatZxid(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return `0x${v.toString(16)}`;
  return String(v);
}

function detailOf(msg: Record<string, unknown>): string {
  return JSON.stringify(msg, (_k, v: unknown) => {
    if (typeof v === 'bigint') return formatZxid(v);
    if (v instanceof Uint8Array) return `<${v.length}B>`;
    return v;
  });
}

function txnRange(txns: unknown): string {
  if (!Array.isArray(txns) || txns.length === 0) return '(empty)';
  const first = (txns[0] as { zxid?: unknown }).zxid;
  const last = (txns[txns.length - 1] as { zxid?: unknown }).zxid;
  return txns.length === 1 ? zx(first) : `${zx(first)}..${zx(last)} (${txns.length})`;
}

/** The label of a decoded message (or a message object from a `--no-wire` trace). */
export function labelMessage(m: Record<string, unknown>): string {
  const type = typeof m.type === 'string' ? m.type : '?';
  switch (type) {
    case 'NOTIFICATION':
      return `NOTIFICATION vote ${String(m.leader)}@${zx(m.zxid)} e${String(m.peerEpoch)} r${String(m.round)} ${String(m.state)}`;
    case 'FOLLOWERINFO':
      return `FOLLOWERINFO accepted e${String(m.acceptedEpoch)} last ${zx(m.lastZxid)}${m.observer === true ? ' observer' : ''}`;
    case 'LEADERINFO':
      return `LEADERINFO e${String(m.newEpoch)}`;
    case 'ACKEPOCH':
      return `ACKEPOCH e${String(m.currentEpoch)} last ${zx(m.lastZxid)}${m.counted === false ? ' (not counted)' : ''}`;
    case 'DIFF':
    case 'TRUNC':
    case 'ACK':
    case 'COMMIT':
    case 'LEADERACK':
    case 'PING':
      return `${type} ${zx(m.zxid)}`;
    case 'SNAP':
      return `SNAP ${zx(m.zxid)} ${String(m.size)}B`;
    case 'SNAPCHUNK': {
      const len = m.data instanceof Uint8Array ? `${m.data.length}B` : String(m.data);
      return `SNAPCHUNK @${String(m.offset)} ${len}${m.last === true ? ' last' : ''}`;
    }
    case 'NEWLEADER':
      return `NEWLEADER e${String(m.epoch)} ${zx(m.zxid)}`;
    case 'ACKNEWLEADER':
      return `ACKNEWLEADER e${String(m.epoch)}`;
    case 'UPTODATE':
      return `UPTODATE committed ${zx(m.committed)}`;
    case 'PROPOSAL':
    case 'INFORM':
      return `${type} ${txnRange(m.txns)}`;
    case 'REQUEST':
      return `REQUEST ×${Array.isArray(m.requests) ? m.requests.length : '?'}`;
    case 'SYNC':
      return `SYNC ${String(m.id)}`;
    case 'SYNCREPLY':
      return `SYNCREPLY ${String(m.id)} ${zx(m.zxid)}`;
    default:
      return type;
  }
}

/** Summarizes the `msg` field of a net.deliver / net.drop record, whatever its shape. */
export function summarizeMessage(msg: unknown): MessageSummary {
  if (typeof msg === 'string') return { type: '?', label: `bytes ${msg}`, detail: msg };
  if (typeof msg !== 'object' || msg === null) return { type: '?', label: '(no message)', detail: String(msg) };
  const o = msg as Record<string, unknown>;
  if (o.type === 'Buffer' && Array.isArray(o.data)) {
    const bytes = Uint8Array.from(o.data as number[]);
    const d = decodePeerMessage(bytes);
    if (!d.ok) return { type: '?', label: `undecodable ${bytes.length}B`, detail: `${d.error.kind}: ${d.error.message}` };
    const m = d.msg as unknown as Record<string, unknown>;
    return { type: String(m.type), label: labelMessage(m), detail: detailOf(m) };
  }
  if (typeof o.type === 'string') return { type: o.type, label: labelMessage(o), detail: detailOf(o) };
  return { type: '?', label: '(unknown message)', detail: detailOf(o) };
}

/** A statechart value ("a" or {a: "b"} or {a: {b: "c"}, d: "e"}) as "a.b.c, d.e". */
export function stateValueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v !== 'object' || v === null) return String(v);
  const parts: string[] = [];
  for (const [k, sub] of Object.entries(v as Record<string, unknown>)) {
    const s = stateValueText(sub);
    parts.push(s === '' || s === '{}' ? k : `${k}.${s}`);
  }
  return parts.join(', ');
}

/** Every server id a record mentions (sid, from, to, a, b, groups). */
export function sidsOf(r: TraceRecord): number[] {
  const out: number[] = [];
  for (const k of ['sid', 'from', 'to', 'a', 'b']) {
    const v = r[k];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) out.push(v);
  }
  if (Array.isArray(r.groups)) {
    for (const g of r.groups) if (Array.isArray(g)) for (const s of g) if (typeof s === 'number') out.push(s);
  }
  return out;
}
