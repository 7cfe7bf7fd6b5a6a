/**
 * ZooKeeper's replicated data tree as a ReplicatedStateMachine: znodes with data and a stat
 * (czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength,
 * numChildren). No sessions here, so no ephemeral nodes (ephemeralOwner is always 0) and no ACLs.
 *
 * The leader's prepare() judges a request (create, delete, setData, check, multi) against the
 * committed tree plus an overlay of what the prepared-but-unapplied txns will do (nodes created,
 * changed, deleted, and their parents' cversion / numChildren / pzxid), as ZooKeeper's
 * PrepRequestProcessor does with its outstanding ChangeRecords. It emits an idempotent txn that
 * carries the outcome: the final path of a sequential create, the parent's new cversion, the new
 * data version, the time (read from the injected clock by the leader only), or the error. apply()
 * never reads a clock or judges a condition: it folds the txn, so every server computes the same tree
 * and returns the same result. Txns at or below lastApplied() are skipped (replay after a snapshot).
 */
import { PendingOverlay } from './pending-overlay.js';
import { decodeTreeRequest, decodeTreeTxn, encodeTreeResult, encodeTreeTxn } from './tree-codec.js';
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { formatZxid, type Zxid } from '../zxid.js';
import type { IncrementalRestore, IncrementalSnapshot, ReplicatedStateMachine } from './state-machine.js';
import { nameOf, parentOf, pathProblem, sequenceSuffix } from './znode-path.js';

// ---------------------------------------------------------------- types

export interface Stat {
  /** zxid of the txn that created the node */
  czxid: Zxid;
  /** zxid of the txn that last changed its data */
  mzxid: Zxid;
  /** zxid of the txn that last created or deleted one of its children */
  pzxid: Zxid;
  /** ms since the epoch, stamped by the leader */
  ctime: number;
  mtime: number;
  /** data version: 0 at create, +1 per setData */
  version: number;
  /** child version: +1 per child created or deleted */
  cversion: number;
  /** ACL version (no ACLs here: always 0) */
  aversion: number;
  /** session owning an ephemeral node (no sessions here: always 0) */
  ephemeralOwner: number;
  dataLength: number;
  numChildren: number;
}

/** ZooKeeper's error codes for data-tree operations (KeeperException.Code). */
export type DataTreeErrorCode = 'NoNode' | 'NodeExists' | 'BadVersion' | 'NotEmpty' | 'BadArguments';
/** In a failed multi: Ok for the ops before the failing one, RuntimeInconsistency for those after (as ZooKeeper). */
export type MultiOpErrorCode = DataTreeErrorCode | 'Ok' | 'RuntimeInconsistency';

/** One operation. version -1 means "any version". */
export type DataTreeOp =
  | { op: 'create'; path: string; data: Uint8Array; sequential?: boolean }
  | { op: 'delete'; path: string; version: number }
  | { op: 'setData'; path: string; data: Uint8Array; version: number }
  | { op: 'check'; path: string; version: number };

/** Client requests: one operation, or several applied all-or-nothing. */
export type DataTreeRequest = DataTreeOp | { op: 'multi'; ops: DataTreeOp[] };

/** Idempotent txns: the outcome, decided by the leader. */
export type DataTreeOpTxn =
  | { op: 'create'; path: string; data: Uint8Array; parentCversion: number; time: number }
  | { op: 'delete'; path: string; parentCversion: number }
  | { op: 'setData'; path: string; data: Uint8Array; version: number; time: number }
  | { op: 'check'; path: string };

export type DataTreeTxn =
  | DataTreeOpTxn
  | { op: 'multi'; txns: (DataTreeOpTxn | { op: 'error'; code: MultiOpErrorCode; path: string })[] }
  | { op: 'error'; code: DataTreeErrorCode; path: string };

/** The result of one successful operation (alone or inside a multi). */
export type DataTreeOpResult =
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'delete'; path: string }
  | { op: 'setData'; path: string; stat: Stat }
  | { op: 'check'; path: string };

/** What apply() returns for the client. A failed multi carries every op's outcome, as ZooKeeper's MultiResponse. */
export type DataTreeResult =
  | ({ ok: true } & DataTreeOpResult)
  | { ok: true; op: 'multi'; results: DataTreeOpResult[] }
  | { ok: false; code: DataTreeErrorCode | 'RuntimeInconsistency'; path: string; results?: { op: 'error'; code: MultiOpErrorCode; path: string }[] };

/** A read refused because of a bad path, or a missing node where one is required. */
export class DataTreeError extends Error {
  override readonly name = 'DataTreeError';
  constructor(
    readonly code: DataTreeErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const packr = new Packr({ useRecords: false });

export { encodeTreeRequest, decodeTreeRequest, encodeTreeTxn, decodeTreeTxn, encodeTreeResult, decodeTreeResult } from './tree-codec.js';

// ---------------------------------------------------------------- internals

interface Znode {
  data: Uint8Array;
  stat: Stat;
  /** names of the children; null until the first one (most znodes are leaves: no empty Set each) */
  children: Set<string> | null;
}

/** A node as the prepared txns will leave it: its stat is all a request is judged by (numChildren stands for the children). */
interface NodeView {
  stat: Stat;
}

type Judged = { txn: DataTreeOpTxn } | { code: DataTreeErrorCode; path: string };

/** Nodes changed by the op being judged (and earlier ops of its multi): path -> view, null = deleted. */
type Scratch = Map<string, NodeView | null>;

const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const NO_RESULT = new Uint8Array(0);
const copyStat = (s: Stat): Stat => ({ ...s });

function emptyStat(): Stat {
  return { czxid: 0n, mzxid: 0n, pzxid: 0n, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 0, numChildren: 0 };
}

function newRoot(): Znode {
  return { data: new Uint8Array(0), stat: emptyStat(), children: null };
}

/** A znode data version in a request: -1 (any) or a version number. */
export const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= -1;
const versionMatches = (expected: number, actual: number): boolean => expected === -1 || expected === actual;

/** [path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion] */
type SnapshotRow = [string, Uint8Array, bigint, bigint, bigint, number, number, number, number];

export interface DataTreeOptions {
  /** the leader's clock for ctime/mtime (ms since the epoch); default Date.now */
  now?: () => number;
}

export class DataTree implements ReplicatedStateMachine {
  private nodes = new Map<string, Znode>([['/', newRoot()]]);
  /** the snapshots being written in slices (a periodic one, a learner's SNAP): told before every change of a node */
  private jobs: TreeSnapshotJob[] = [];
  private applied: Zxid = 0n;
  private readonly now: () => number;
  /** What prepared-but-unapplied txns will leave at a path (null: deleted). */
  private readonly pending = new PendingOverlay<NodeView | null>();

  constructor(options: DataTreeOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  // ---------------------------------------------------------------- reads (local, not replicated)

  /** The node's data and stat; null when it does not exist. Throws DataTreeError(BadArguments) for a bad path. */
  getData(path: string): { data: Uint8Array; stat: Stat } | null {
    const n = this.nodes.get(checkPath(path));
    return n ? { data: copyBytes(n.data), stat: copyStat(n.stat) } : null;
  }

  /** The node's stat, or null when it does not exist. */
  exists(path: string): Stat | null {
    const n = this.nodes.get(checkPath(path));
    return n ? copyStat(n.stat) : null;
  }

  /** The node's children (names, sorted) and stat; null when it does not exist. */
  getChildren(path: string): { children: string[]; stat: Stat } | null {
    const n = this.nodes.get(checkPath(path));
    return n ? { children: n.children ? [...n.children].sort() : [], stat: copyStat(n.stat) } : null;
  }

  /** Number of znodes, the root included. */
  size(): number {
    return this.nodes.size;
  }

  /** Paths whose overlay entry is still pending (for tests). */
  pendingPaths(): number {
    return this.pending.size;
  }

  // ---------------------------------------------------------------- leader: prepare

  prepare(request: Uint8Array, zxid: Zxid): Uint8Array {
    let req: DataTreeRequest;
    try {
      req = decodeTreeRequest(request);
    } catch {
      return encodeTreeTxn({ op: 'error', code: 'BadArguments', path: '' });
    }
    const time = this.now();
    const scratch: Scratch = new Map();
    let txn: DataTreeTxn;
    if (req && typeof req === 'object' && req.op === 'multi') {
      const ops: unknown[] = Array.isArray(req.ops) ? req.ops : [];
      const txns: DataTreeOpTxn[] = [];
      let failed: { index: number; code: DataTreeErrorCode } | null = null;
      if (!Array.isArray(req.ops)) failed = { index: 0, code: 'BadArguments' };
      for (let i = 0; i < ops.length && !failed; i++) {
        const j = this.judge(ops[i], scratch, zxid, time);
        if ('code' in j) failed = { index: i, code: j.code };
        else txns.push(j.txn);
      }
      if (failed) {
        const f = failed;
        const pathOf = (op: unknown): string => (op && typeof op === 'object' && typeof (op as { path?: unknown }).path === 'string' ? (op as { path: string }).path : '');
        txn = {
          op: 'multi',
          txns: (ops.length > 0 ? ops : [undefined]).map((op, i) => ({
            op: 'error' as const,
            code: i < f.index ? ('Ok' as const) : i === f.index ? f.code : ('RuntimeInconsistency' as const),
            path: pathOf(op),
          })),
        };
        scratch.clear();
      } else {
        txn = { op: 'multi', txns };
      }
    } else {
      const j = this.judge(req, scratch, zxid, time);
      txn = 'code' in j ? { op: 'error', code: j.code, path: j.path } : j.txn;
    }
    for (const [path, view] of scratch) this.pending.set(path, view, zxid);
    return encodeTreeTxn(txn);
  }

  /** The node at `path` as committed state, pending txns and the scratch of the current request leave it. */
  private look(path: string, scratch: Scratch): NodeView | null {
    if (scratch.has(path)) return scratch.get(path) ?? null;
    const p = this.pending.get(path);
    if (p) return p.value;
    const n = this.nodes.get(path);
    return n ? { stat: n.stat } : null;
  }

  /** Judges one op; on success records its effect in `scratch` and returns its txn. */
  private judge(raw: unknown, scratch: Scratch, zxid: Zxid, time: number): Judged {
    if (!raw || typeof raw !== 'object') return { code: 'BadArguments', path: '' };
    const op = raw as DataTreeOp;
    const path = op.path;
    if (typeof path !== 'string') return { code: 'BadArguments', path: '' };
    const bad = { code: 'BadArguments', path } as const;
    switch (op.op) {
      case 'create': {
        const sequential = op.sequential === true;
        if (pathProblem(path, sequential) !== null || !(op.data instanceof Uint8Array)) return bad;
        if (path === '/') return { code: 'NodeExists', path };
        const parentPath = parentOf(path);
        const parent = this.look(parentPath, scratch);
        if (!parent) return { code: 'NoNode', path };
        const finalPath = sequential ? path + sequenceSuffix(parent.stat.cversion) : path;
        if (pathProblem(finalPath) !== null) return bad;
        if (this.look(finalPath, scratch)) return { code: 'NodeExists', path: finalPath };
        const parentCversion = parent.stat.cversion + 1;
        // No copy: the txn is encoded before prepare() returns, and the overlay keeps no data.
        const data = op.data;
        scratch.set(parentPath, {
          stat: { ...parent.stat, cversion: parentCversion, numChildren: parent.stat.numChildren + 1, pzxid: zxid },
        });
        scratch.set(finalPath, {
          stat: { ...emptyStat(), czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: time, mtime: time, dataLength: data.length },
        });
        return { txn: { op: 'create', path: finalPath, data, parentCversion, time } };
      }
      case 'delete': {
        if (pathProblem(path) !== null || !isVersion(op.version) || path === '/') return bad;
        const node = this.look(path, scratch);
        if (!node) return { code: 'NoNode', path };
        if (!versionMatches(op.version, node.stat.version)) return { code: 'BadVersion', path };
        if (node.stat.numChildren > 0) return { code: 'NotEmpty', path };
        const parentPath = parentOf(path);
        const parent = this.look(parentPath, scratch);
        if (!parent) return { code: 'NoNode', path }; // cannot happen: a node's parent exists
        const parentCversion = parent.stat.cversion + 1;
        scratch.set(parentPath, {
          stat: { ...parent.stat, cversion: parentCversion, numChildren: parent.stat.numChildren - 1, pzxid: zxid },
        });
        scratch.set(path, null);
        return { txn: { op: 'delete', path, parentCversion } };
      }
      case 'setData': {
        if (pathProblem(path) !== null || !isVersion(op.version) || !(op.data instanceof Uint8Array)) return bad;
        const node = this.look(path, scratch);
        if (!node) return { code: 'NoNode', path };
        if (!versionMatches(op.version, node.stat.version)) return { code: 'BadVersion', path };
        const data = op.data;
        const version = node.stat.version + 1;
        scratch.set(path, { stat: { ...node.stat, version, mzxid: zxid, mtime: time, dataLength: data.length } });
        return { txn: { op: 'setData', path, data, version, time } };
      }
      case 'check': {
        if (pathProblem(path) !== null || !isVersion(op.version)) return bad;
        const node = this.look(path, scratch);
        if (!node) return { code: 'NoNode', path };
        if (!versionMatches(op.version, node.stat.version)) return { code: 'BadVersion', path };
        return { txn: { op: 'check', path } };
      }
      default:
        return bad; // unknown op, or a multi inside a multi
    }
  }

  // ---------------------------------------------------------------- every server: apply

  apply(zxid: Zxid, txn: Uint8Array, wanted = true): Uint8Array {
    const t = decodeTreeTxn(txn);
    if (zxid <= this.applied) {
      // Already folded (replay after a snapshot): change nothing.
      return encodeTreeResult({ ok: false, code: 'RuntimeInconsistency', path: 'path' in t ? t.path : '' });
    }
    // The result (stat copies and all) is built only for a client waiting here.
    let result: DataTreeResult | null = null;
    switch (t.op) {
      case 'error':
        result = { ok: false, code: t.code, path: t.path };
        break;
      case 'multi': {
        const failed = t.txns.find((s) => s.op === 'error' && s.code !== 'Ok');
        if (failed || t.txns.some((s) => s.op === 'error')) {
          const errors = t.txns.map((s) => (s.op === 'error' ? s : { op: 'error' as const, code: 'Ok' as const, path: s.path }));
          const first = failed as { code: DataTreeErrorCode; path: string } | undefined;
          result = { ok: false, code: first?.code ?? 'RuntimeInconsistency', path: first?.path ?? '', results: errors };
        } else {
          const results: DataTreeOpResult[] = [];
          for (const s of t.txns as DataTreeOpTxn[]) {
            const r = this.applyOp(zxid, s, wanted);
            if (r) results.push(r);
          }
          result = { ok: true, op: 'multi', results };
        }
        break;
      }
      case 'create':
      case 'delete':
      case 'setData':
      case 'check': {
        const r = this.applyOp(zxid, t, wanted);
        if (r) result = { ok: true, ...r };
        break;
      }
      default:
        throw new Error(`unknown data tree txn: ${JSON.stringify(t)}`);
    }
    this.applied = zxid;
    this.pending.retireUpTo(zxid);
    return wanted && result ? encodeTreeResult(result) : NO_RESULT;
  }

  /** Folds one op txn. Every value comes from the txn (or the zxid), so all servers agree. The result only when `wanted`. */
  private applyOp(zxid: Zxid, t: DataTreeOpTxn, wanted: boolean): DataTreeOpResult | null {
    switch (t.op) {
      case 'create': {
        const parentPath = parentOf(t.path);
        const parent = this.nodes.get(parentPath);
        if (!parent) throw new Error(`create ${t.path} at ${formatZxid(zxid)}: no parent (the tree diverged from the leader's)`);
        if (this.jobs.length !== 0) {
          this.beforeChange(t.path);
          this.beforeChange(parentPath);
        }
        const data = copyBytes(t.data);
        const existing = this.nodes.get(t.path);
        const node: Znode = {
          data,
          stat: { ...emptyStat(), czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: t.time, mtime: t.time, dataLength: data.length },
          children: existing?.children ?? null,
        };
        node.stat.numChildren = node.children?.size ?? 0;
        this.nodes.set(t.path, node);
        (parent.children ??= new Set()).add(nameOf(t.path));
        parent.stat.cversion = t.parentCversion;
        parent.stat.pzxid = zxid;
        parent.stat.numChildren = parent.children.size;
        return wanted ? { op: 'create', path: t.path, stat: copyStat(node.stat) } : null;
      }
      case 'delete': {
        const parentPath = parentOf(t.path);
        this.deleteSubtree(t.path);
        if (this.jobs.length !== 0) this.beforeChange(parentPath);
        const parent = this.nodes.get(parentPath);
        if (parent) {
          parent.children?.delete(nameOf(t.path));
          parent.stat.cversion = t.parentCversion;
          parent.stat.pzxid = zxid;
          parent.stat.numChildren = parent.children?.size ?? 0;
        }
        return { op: 'delete', path: t.path };
      }
      case 'setData': {
        const node = this.nodes.get(t.path);
        if (!node) throw new Error(`setData ${t.path} at ${formatZxid(zxid)}: no such node (the tree diverged from the leader's)`);
        if (this.jobs.length !== 0) this.beforeChange(t.path);
        node.data = copyBytes(t.data);
        node.stat.version = t.version;
        node.stat.mzxid = zxid;
        node.stat.mtime = t.time;
        node.stat.dataLength = node.data.length;
        return wanted ? { op: 'setData', path: t.path, stat: copyStat(node.stat) } : null;
      }
      case 'check':
        return { op: 'check', path: t.path };
    }
  }

  /** Removes a node (and, defensively, anything below it: the leader only deletes leaves). */
  private deleteSubtree(path: string): void {
    const n = this.nodes.get(path);
    if (!n) return;
    if (n.children) for (const c of n.children) this.deleteSubtree(path === '/' ? `/${c}` : `${path}/${c}`);
    if (this.jobs.length !== 0) this.beforeChange(path);
    this.nodes.delete(path);
  }

  private beforeChange(path: string): void {
    for (const j of this.jobs) j.beforeChange(path);
  }

  discardPending(): void {
    this.pending.clear();
  }

  lastApplied(): Zxid {
    return this.applied;
  }

  // ---------------------------------------------------------------- snapshots

  /** Every node as a row, sorted by path: equal trees give equal bytes. Children and numChildren are rebuilt on restore. */
  snapshot(): Uint8Array {
    // The incremental writer over the sorted paths, in one go: nothing can change meanwhile, so it
    // needs no copy on write and is not registered as the tree's job.
    const job = new TreeSnapshotJob(this.applied, this.sortedPaths(), this.nodes, () => undefined);
    job.step(Infinity);
    return job.bytes();
  }

  /**
   * A snapshot at lastApplied(), written in slices while txns keep being applied: a node's row is
   * taken from the live tree unless the node changed since the snapshot began, in which case the
   * copy saved just before its first change is used (copy on write, only for nodes that change).
   * Rows come in the tree's insertion order, not sorted (restore does not depend on the order), so
   * the bytes may differ from snapshot()'s for the same tree; restoring either gives the same tree.
   */
  beginSnapshot(): IncrementalSnapshot {
    const job = new TreeSnapshotJob(this.applied, [...this.nodes.keys()], this.nodes, () => {
      this.jobs = this.jobs.filter((j) => j !== job);
    });
    this.jobs.push(job);
    return job;
  }

  restore(snapshot: Uint8Array, zxid: Zxid): void {
    this.beginRestore(snapshot, zxid).step(Infinity);
  }

  /** The snapshot's rows are decoded and linked into a new tree in slices; the last step swaps it in. */
  beginRestore(snapshot: Uint8Array, zxid: Zxid): IncrementalRestore {
    return new TreeRestoreJob(snapshot, zxid, (nodes) => {
      for (const j of [...this.jobs]) j.cancel();
      this.nodes = nodes;
      this.applied = zxid;
      this.discardPending();
    });
  }

  digest(): string {
    const h = createHash('sha1');
    h.update(`applied:${this.applied.toString(16)}\n`);
    for (const p of this.sortedPaths()) {
      const { data, stat: s } = this.nodes.get(p)!;
      h.update(
        `${JSON.stringify(p)}\t${s.czxid.toString(16)}\t${s.mzxid.toString(16)}\t${s.pzxid.toString(16)}\t${s.ctime}\t${s.mtime}\t` +
          `${s.version}\t${s.cversion}\t${s.dataLength}\t${s.numChildren}\t${Buffer.from(data).toString('hex')}\n`,
      );
    }
    return h.digest('hex');
  }

  private sortedPaths(): string[] {
    return [...this.nodes.keys()].sort();
  }
}

const SNAPSHOT_FORMAT = 'data-tree/1';

function rowOf(path: string, n: Znode): SnapshotRow {
  const s = n.stat;
  return [path, n.data, s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion];
}

/** Rows per check of the clock while stepping. */
const ROWS_PER_CHECK = 256;
/** Size of the buffers a snapshot's rows are gathered in. */
const STAGING_BYTES = 1 << 20;

/**
 * Writes a DataTree snapshot: the MessagePack document { format, nodes: [row...] } that restore()
 * reads, built as a prefix with the row count and then the rows, each packed on its own (a
 * MessagePack array is its header followed by its elements). snapshot() runs it in one go; a
 * registered job (beginSnapshot) runs in slices with copy on write.
 */
class TreeSnapshotJob implements IncrementalSnapshot {
  /** rows as they were when the snapshot began, for nodes that changed since (copy on write) */
  private readonly saved = new Map<string, SnapshotRow>();
  /**
   * Rows are copied into 1 MiB buffers as they are packed: a view per row would keep a million small
   * objects alive until the end (old-generation garbage, and GC pauses, at a million znodes).
   */
  private readonly chunks: Uint8Array[] = [];
  private staging: Buffer = Buffer.allocUnsafe(STAGING_BYTES);
  private used = 0;
  private next = 0;
  private done = false;
  private cancelled = false;

  constructor(
    readonly zxid: Zxid,
    private readonly paths: string[],
    private readonly nodes: Map<string, Znode>,
    private readonly onEnd: () => void,
  ) {
    const header = Buffer.alloc(5);
    header[0] = 0xdd; // array 32
    header.writeUInt32BE(paths.length, 1);
    for (const b of [Uint8Array.of(0x82), packr.pack('format'), packr.pack(SNAPSHOT_FORMAT), packr.pack('nodes'), header]) this.put(b);
  }

  private put(b: Uint8Array): void {
    if (b.length > this.staging.length - this.used) {
      this.seal();
      if (b.length > this.staging.length) {
        this.chunks.push(Uint8Array.prototype.slice.call(b)); // a row bigger than a staging buffer: its own copy
        return;
      }
    }
    this.staging.set(b, this.used);
    this.used += b.length;
  }

  /** Keeps what the staging buffer holds and starts a new one. */
  private seal(): void {
    if (this.used === 0) return;
    this.chunks.push(this.staging.subarray(0, this.used));
    this.staging = Buffer.allocUnsafe(STAGING_BYTES);
    this.used = 0;
  }

  /** Called before a node is changed, created or deleted while the snapshot is being written. */
  beforeChange(path: string): void {
    if (this.saved.has(path)) return;
    const n = this.nodes.get(path);
    // A node absent now did not exist when the snapshot began (its deletion would have saved it).
    if (n) this.saved.set(path, rowOf(path, n));
  }

  step(budgetMs: number): boolean {
    if (this.cancelled) throw new Error('snapshot cancelled');
    const end = performance.now() + budgetMs;
    const { paths, nodes, saved } = this;
    while (this.next < paths.length) {
      const stop = Math.min(paths.length, this.next + ROWS_PER_CHECK);
      for (; this.next < stop; this.next++) {
        const p = paths[this.next]!;
        const row = saved.get(p) ?? rowOf(p, nodes.get(p)!);
        this.put(packr.pack(row));
      }
      if (performance.now() >= end) break;
    }
    if (this.next >= paths.length && !this.done) {
      this.done = true;
      this.seal();
      this.staging = Buffer.alloc(0);
      this.saved.clear();
      this.onEnd();
    }
    return this.done;
  }

  bytes(): Uint8Array {
    if (!this.done) throw new Error('snapshot not finished: call step() until it returns true');
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  cancel(): void {
    if (this.done || this.cancelled) return;
    this.cancelled = true;
    this.saved.clear();
    this.chunks.length = 0;
    this.staging = Buffer.alloc(0);
    this.used = 0;
    this.onEnd();
  }
}

/**
 * Where the rows start in a snapshot laid out as TreeSnapshotJob writes it ({ format, nodes } with
 * format first), and how many there are; null for any other layout (decoded in one go instead).
 */
function rowsStart(b: Uint8Array): { offset: number; count: number } | null {
  if (b[0] !== 0x82) return null;
  const prefix: unknown[] = [];
  let at = 1;
  try {
    packr.unpackMultiple(b.subarray(1), (v: unknown, _start?: number, end?: number) => {
      prefix.push(v);
      at = 1 + (end as number);
      return prefix.length < 3;
    });
  } catch {
    return null;
  }
  if (prefix[0] !== 'format' || prefix[1] !== SNAPSHOT_FORMAT || prefix[2] !== 'nodes') return null;
  const h = b[at];
  if (h === undefined) return null;
  if (h >= 0x90 && h <= 0x9f) return { offset: at + 1, count: h & 0x0f };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (h === 0xdc && at + 3 <= b.length) return { offset: at + 3, count: view.getUint16(at + 1) };
  if (h === 0xdd && at + 5 <= b.length) return { offset: at + 5, count: view.getUint32(at + 1) };
  return null;
}

/**
 * Restores a DataTree snapshot into a new node map, a slice at a time: first the rows (decoded
 * ROWS_PER_CHECK at a time straight from the bytes), then each node linked into its parent's
 * children. The tree being replaced is untouched until `install` swaps the new map in.
 */
class TreeRestoreJob implements IncrementalRestore {
  private readonly nodes = new Map<string, Znode>();
  /** byte offset of the next row (when decoding from the bytes) */
  private pos = 0;
  private remaining: number;
  /** the rows, when the layout is not the one rowsStart knows (decoded in one go) */
  private rows: SnapshotRow[] | null = null;
  private rowIndex = 0;
  private linking: IterableIterator<string> | null = null;
  private done = false;
  private cancelled = false;

  constructor(
    private bytes: Uint8Array,
    readonly zxid: Zxid,
    private readonly install: (nodes: Map<string, Znode>) => void,
  ) {
    const start = rowsStart(bytes);
    if (start) {
      this.pos = start.offset;
      this.remaining = start.count;
    } else {
      const decoded = packr.unpack(bytes) as { format?: unknown; nodes?: SnapshotRow[] };
      if (decoded?.format !== SNAPSHOT_FORMAT || !Array.isArray(decoded.nodes)) throw new Error('not a data-tree snapshot');
      this.rows = decoded.nodes;
      this.remaining = this.rows.length;
    }
  }

  step(budgetMs: number): boolean {
    if (this.cancelled) throw new Error('restore cancelled');
    if (this.done) return true;
    const end = performance.now() + budgetMs;
    while (this.remaining > 0) {
      this.addRows(Math.min(this.remaining, ROWS_PER_CHECK));
      if (performance.now() >= end) return false;
    }
    if (!this.linking) {
      if (!this.nodes.has('/')) throw new Error('data-tree snapshot without a root');
      this.linking = this.nodes.keys();
    }
    for (;;) {
      for (let i = 0; i < ROWS_PER_CHECK; i++) {
        const next = this.linking.next();
        if (next.done) {
          this.done = true;
          this.bytes = new Uint8Array(0);
          this.install(this.nodes);
          return true;
        }
        const path = next.value;
        if (path === '/') continue;
        const parent = this.nodes.get(parentOf(path));
        if (!parent) throw new Error(`data-tree snapshot: ${path} has no parent`);
        parent.stat.numChildren = (parent.children ??= new Set()).add(nameOf(path)).size;
      }
      if (performance.now() >= end) return false;
    }
  }

  cancel(): void {
    this.cancelled = true;
    this.bytes = new Uint8Array(0);
    this.rows = null;
    this.nodes.clear();
  }

  private addRows(n: number): void {
    if (this.rows) {
      for (let i = 0; i < n; i++) this.add(this.rows[this.rowIndex++]);
      this.remaining -= n;
      return;
    }
    let got = 0;
    let used = 0;
    packr.unpackMultiple(this.bytes.subarray(this.pos), (row: unknown, _start?: number, end?: number) => {
      this.add(row);
      used = end as number;
      return ++got < n;
    });
    if (got < n) throw new Error(`data-tree snapshot: ${this.remaining - got} rows missing at its end (truncated)`);
    this.pos += used;
    this.remaining -= n;
  }

  private add(row: unknown): void {
    if (!Array.isArray(row) || row.length < 9 || typeof row[0] !== 'string' || !(row[1] instanceof Uint8Array)) {
      throw new Error('data-tree snapshot: a row is not [path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion]');
    }
    const [path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion] = row as SnapshotRow;
    const d = copyBytes(data);
    const stat: Stat = { ...emptyStat(), czxid: BigInt(czxid), mzxid: BigInt(mzxid), pzxid: BigInt(pzxid), ctime, mtime, version, cversion, dataLength: d.length };
    this.nodes.set(path, { data: d, stat, children: null });
  }
}

function checkPath(path: string): string {
  const problem = pathProblem(path);
  if (problem !== null) throw new DataTreeError('BadArguments', String(path), `bad path ${JSON.stringify(path)}: ${problem}`);
  return path;
}
