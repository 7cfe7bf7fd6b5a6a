/**
 * A versioned key-value register with compare-and-set, as a ReplicatedStateMachine. Every key has
 * a version: 1 when created, +1 per update. The leader's prepare() resolves the conditions of a
 * request (versions) against the applied state plus the txns it has prepared but not yet applied,
 * and emits an idempotent txn carrying the outcome (the exact value and version to set, or the
 * error), so applying a txn twice (replay after a fuzzy snapshot) is harmless.
 */
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Zxid } from '../zxid.js';
import { PendingOverlay } from './pending-overlay.js';
import type { ReplicatedStateMachine } from './state-machine.js';

// ---- wire types ----

/** Client requests. cas: expectedVersion 0 means "the key must not exist". */
export type KvRequest =
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expectedVersion: number; value: string }
  | { op: 'delete'; key: string; expectedVersion?: number };

export type KvErrorCode = 'BadVersion' | 'NoNode';

/** Idempotent txns: the outcome, decided by the leader. */
export type KvTxn =
  | { op: 'set'; key: string; value: string; version: number }
  | { op: 'del'; key: string }
  | { op: 'error'; code: KvErrorCode; key: string };

/** Result of apply(): the key's version after the txn (0 once deleted), or the error. */
export type KvResult = { ok: true; version: number } | { ok: false; code: KvErrorCode };

export interface KvEntry {
  value: string;
  version: number;
}

const packr = new Packr({ useRecords: false });

export const encodeRequest = (r: KvRequest): Uint8Array => packr.pack(r);
export const decodeRequest = (b: Uint8Array): KvRequest => packr.unpack(b) as KvRequest;
export const encodeTxn = (t: KvTxn): Uint8Array => packr.pack(t);
export const decodeTxn = (b: Uint8Array): KvTxn => packr.unpack(b) as KvTxn;
export const encodeResult = (r: KvResult): Uint8Array => packr.pack(r);
export const decodeResult = (b: Uint8Array): KvResult => packr.unpack(b) as KvResult;

/** What a key will look like once every prepared txn touching it is applied; null = absent. */

export class KvRegister implements ReplicatedStateMachine {
  private state = new Map<string, KvEntry>();
  private applied: Zxid = 0n;
  /** What prepared, unapplied txns leave at each key they touch (null: deleted). */
  private readonly pending = new PendingOverlay<KvEntry | null>();

  get(key: string): KvEntry | undefined {
    const e = this.state.get(key);
    return e && { ...e };
  }

  size(): number {
    return this.state.size;
  }

  prepare(request: Uint8Array, zxid: Zxid): Uint8Array {
    const req = decodeRequest(request);
    const txn = this.judge(req, this.view(req.key));
    if (txn.op !== 'error') {
      this.pending.set(txn.key, txn.op === 'set' ? { value: txn.value, version: txn.version } : null, zxid);
    }
    return encodeTxn(txn);
  }

  /** The request's outcome against `current` (the key as pending txns will leave it). */
  private judge(req: KvRequest, current: KvEntry | null): KvTxn {
    const key = req.key;
    const nextVersion = (current?.version ?? 0) + 1;
    switch (req.op) {
      case 'put':
        return { op: 'set', key, value: req.value, version: nextVersion };
      case 'cas':
        if (req.expectedVersion === 0) {
          return current ? { op: 'error', code: 'BadVersion', key } : { op: 'set', key, value: req.value, version: 1 };
        }
        if (!current) return { op: 'error', code: 'NoNode', key };
        if (current.version !== req.expectedVersion) return { op: 'error', code: 'BadVersion', key };
        return { op: 'set', key, value: req.value, version: nextVersion };
      case 'delete':
        if (!current) return { op: 'error', code: 'NoNode', key };
        if (req.expectedVersion !== undefined && current.version !== req.expectedVersion) return { op: 'error', code: 'BadVersion', key };
        return { op: 'del', key };
      default:
        throw new Error(`unknown kv request: ${JSON.stringify(req)}`);
    }
  }

  private view(key: string): KvEntry | null {
    const p = this.pending.get(key);
    if (p) return p.value;
    return this.state.get(key) ?? null;
  }

  apply(zxid: Zxid, txn: Uint8Array): Uint8Array {
    const t = decodeTxn(txn);
    let result: KvResult;
    switch (t.op) {
      case 'set':
        this.state.set(t.key, { value: t.value, version: t.version });
        result = { ok: true, version: t.version };
        break;
      case 'del':
        this.state.delete(t.key);
        result = { ok: true, version: 0 };
        break;
      case 'error':
        result = { ok: false, code: t.code };
        break;
      default:
        throw new Error(`unknown kv txn: ${JSON.stringify(t)}`);
    }
    if (zxid > this.applied) this.applied = zxid;
    this.pending.retireUpTo(zxid);
    return encodeResult(result);
  }

  discardPending(): void {
    this.pending.clear();
  }

  /** Prepared txns whose effect is not yet applied (for tests). */
  pendingKeys(): number {
    return this.pending.size;
  }

  lastApplied(): Zxid {
    return this.applied;
  }

  /** Sorted [key, value, version] triples: equal states give equal bytes. */
  snapshot(): Uint8Array {
    return packr.pack(this.sortedEntries());
  }

  restore(snapshot: Uint8Array, zxid: Zxid): void {
    const entries = packr.unpack(snapshot) as [string, string, number][];
    this.state = new Map(entries.map(([k, value, version]) => [k, { value, version }]));
    this.applied = zxid;
    this.discardPending();
  }

  digest(): string {
    const h = createHash('sha1');
    h.update(`applied:${this.applied.toString(16)}\n`);
    for (const [k, value, version] of this.sortedEntries()) h.update(`${JSON.stringify(k)}\t${version}\t${JSON.stringify(value)}\n`);
    return h.digest('hex');
  }

  private sortedEntries(): [string, string, number][] {
    const keys = [...this.state.keys()].sort();
    return keys.map((k) => {
      const e = this.state.get(k) as KvEntry;
      return [k, e.value, e.version];
    });
  }
}
