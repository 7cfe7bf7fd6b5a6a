/**
 * Properties of the data tree: replicas folding the same txns agree; snapshot + restore + replay equals
 * folding everything; and a leader preparing in batches (several prepares before their applies, some
 * batches discarded) gives exactly the results and the tree of a naive one-request-at-a-time model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DataTree,
  decodeTreeResult,
  encodeTreeRequest,
  type DataTreeErrorCode,
  type DataTreeOp,
  type DataTreeOpResult,
  type DataTreeRequest,
  type DataTreeResult,
  type Stat,
} from '../../src/app/data-tree.js';

// ---------------------------------------------------------------- generators

const pathArb = fc.constantFrom('/a', '/b', '/a/x', '/a/y', '/b/x', '/a/x/q', '/a/s-0000000000', '/a/s-0000000001', '/s-0000000002');
const seqPrefixArb = fc.constantFrom('/a/s-', '/s-', '/b/');
const dataArb = fc.uint8Array({ maxLength: 3 });
const versionArb = fc.integer({ min: -1, max: 2 });

const opArb: fc.Arbitrary<DataTreeOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('create' as const), path: pathArb, data: dataArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('create' as const), path: seqPrefixArb, data: dataArb, sequential: fc.constant(true) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), path: pathArb, version: versionArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('setData' as const), path: pathArb, data: dataArb, version: versionArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('check' as const), path: pathArb, version: versionArb }) },
);

const requestArb: fc.Arbitrary<DataTreeRequest> = fc.oneof(
  { weight: 5, arbitrary: opArb },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('multi' as const), ops: fc.array(opArb, { maxLength: 4 }) }) },
);

/** Requests cut into leader batches; a discarded batch is prepared but never applied (a lost leadership). */
const batchesArb = fc.array(fc.record({ requests: fc.array(requestArb, { minLength: 1, maxLength: 5 }), discard: fc.integer({ min: 0, max: 9 }).map((x) => x < 2) }), {
  minLength: 1,
  maxLength: 12,
});

// ---------------------------------------------------------------- helpers

function clock(): () => number {
  let t = 1_000;
  return () => t++;
}

/** A leader folding committed batches: returns the committed txns (zxid order) and the results. */
function lead(batches: { requests: DataTreeRequest[]; discard: boolean }[]): { leader: DataTree; txns: { zxid: bigint; txn: Uint8Array }[]; results: DataTreeResult[] } {
  const leader = new DataTree({ now: clock() });
  const txns: { zxid: bigint; txn: Uint8Array }[] = [];
  const results: DataTreeResult[] = [];
  let zxid = 0n;
  for (const b of batches) {
    const prepared = b.requests.map((r) => {
      zxid++;
      return { zxid, txn: leader.prepare(encodeTreeRequest(r), zxid) };
    });
    if (b.discard) {
      leader.discardPending();
      continue;
    }
    for (const p of prepared) {
      results.push(decodeTreeResult(leader.apply(p.zxid, p.txn)));
      txns.push(p);
    }
  }
  return { leader, txns, results };
}

// ---------------------------------------------------------------- the naive model

interface MNode {
  data: Uint8Array;
  stat: Stat;
}

const parentOf = (p: string): string => (p.lastIndexOf('/') === 0 ? '/' : p.slice(0, p.lastIndexOf('/')));

/** One request at a time against a whole copy of the tree: no overlay, no txns. */
class Model {
  nodes = new Map<string, MNode>([['/', { data: new Uint8Array(0), stat: zeroStat() }]]);

  run(req: DataTreeRequest, zxid: bigint, time: number): DataTreeResult {
    const work = new Map([...this.nodes].map(([k, v]) => [k, { data: v.data, stat: { ...v.stat } }]));
    if (req.op === 'multi') {
      const results: DataTreeOpResult[] = [];
      for (let i = 0; i < req.ops.length; i++) {
        const r = Model.op(work, req.ops[i]!, zxid, time);
        if ('code' in r) {
          return {
            ok: false,
            code: r.code,
            path: req.ops[i]!.path,
            results: req.ops.map((o, j) => ({ op: 'error' as const, code: j < i ? ('Ok' as const) : j === i ? r.code : ('RuntimeInconsistency' as const), path: o.path })),
          };
        }
        results.push(r);
      }
      this.nodes = work;
      return { ok: true, op: 'multi', results };
    }
    const r = Model.op(work, req, zxid, time);
    if ('code' in r) return { ok: false, code: r.code, path: r.path };
    this.nodes = work;
    return { ok: true, ...r };
  }

  static op(t: Map<string, MNode>, o: DataTreeOp, zxid: bigint, time: number): DataTreeOpResult | { code: DataTreeErrorCode; path: string } {
    const node = t.get(o.path);
    const checkVersion = (n: MNode, v: number): boolean => v === -1 || v === n.stat.version;
    switch (o.op) {
      case 'create': {
        const parent = t.get(parentOf(o.path));
        if (!parent) return { code: 'NoNode', path: o.path };
        const path = o.sequential ? o.path + String(parent.stat.cversion).padStart(10, '0') : o.path;
        if (t.has(path)) return { code: 'NodeExists', path };
        parent.stat.cversion++;
        parent.stat.numChildren++;
        parent.stat.pzxid = zxid;
        const stat = { ...zeroStat(), czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: time, mtime: time, dataLength: o.data.length };
        t.set(path, { data: o.data, stat });
        return { op: 'create', path, stat: { ...stat } };
      }
      case 'delete': {
        if (!node) return { code: 'NoNode', path: o.path };
        if (!checkVersion(node, o.version)) return { code: 'BadVersion', path: o.path };
        if (node.stat.numChildren > 0) return { code: 'NotEmpty', path: o.path };
        const parent = t.get(parentOf(o.path))!;
        parent.stat.cversion++;
        parent.stat.numChildren--;
        parent.stat.pzxid = zxid;
        t.delete(o.path);
        return { op: 'delete', path: o.path };
      }
      case 'setData': {
        if (!node) return { code: 'NoNode', path: o.path };
        if (!checkVersion(node, o.version)) return { code: 'BadVersion', path: o.path };
        node.data = o.data;
        node.stat = { ...node.stat, version: node.stat.version + 1, mzxid: zxid, mtime: time, dataLength: o.data.length };
        return { op: 'setData', path: o.path, stat: { ...node.stat } };
      }
      case 'check':
        if (!node) return { code: 'NoNode', path: o.path };
        if (!checkVersion(node, o.version)) return { code: 'BadVersion', path: o.path };
        return { op: 'check', path: o.path };
    }
  }
}

function zeroStat(): Stat {
  return { czxid: 0n, mzxid: 0n, pzxid: 0n, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 0, numChildren: 0 };
}

/** Normalises byte arrays (Buffer vs Uint8Array) so results compare by content. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

// ---------------------------------------------------------------- properties

describe('DataTree properties', () => {
  it('prepare-then-apply in batches (with discarded batches) equals the one-at-a-time model', () => {
    fc.assert(
      fc.property(batchesArb, (batches) => {
        const { leader, results } = lead(batches);
        const model = new Model();
        const expected: DataTreeResult[] = [];
        let zxid = 0n;
        let time = 1_000;
        for (const b of batches) {
          for (const r of b.requests) {
            zxid++;
            const t = time++;
            if (!b.discard) expected.push(model.run(r, zxid, t));
          }
        }
        expect(norm(results)).toEqual(norm(expected));
        expect(leader.size()).toBe(model.nodes.size);
        for (const [path, n] of model.nodes) {
          const got = leader.getData(path);
          expect(got, path).not.toBeNull();
          expect(norm(got)).toEqual(norm(n));
        }
        expect(leader.pendingPaths()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('two trees folding the same txns have equal digests (and equal the leader)', () => {
    fc.assert(
      fc.property(batchesArb, (batches) => {
        const { leader, txns } = lead(batches);
        const a = new DataTree();
        const b = new DataTree({ now: () => 0 });
        for (const t of txns) a.apply(t.zxid, t.txn);
        for (const t of txns) b.apply(t.zxid, t.txn);
        expect(a.digest()).toBe(b.digest());
        expect(a.digest()).toBe(leader.digest());
        expect(Buffer.from(a.snapshot())).toEqual(Buffer.from(leader.snapshot()));
      }),
      { numRuns: 200 },
    );
  });

  it('snapshot at any point + restore + replay (of everything, or of the tail) equals folding everything', () => {
    fc.assert(
      fc.property(batchesArb, fc.nat(), fc.boolean(), (batches, cutSeed, replayAll) => {
        const { leader, txns } = lead(batches);
        const cut = txns.length === 0 ? 0 : cutSeed % (txns.length + 1);
        const first = new DataTree();
        for (const t of txns.slice(0, cut)) first.apply(t.zxid, t.txn);
        const restored = new DataTree();
        restored.restore(first.snapshot(), first.lastApplied());
        expect(restored.digest()).toBe(first.digest());
        // replaying txns already in the snapshot is harmless
        for (const t of replayAll ? txns : txns.slice(cut)) restored.apply(t.zxid, t.txn);
        expect(restored.digest()).toBe(leader.digest());
        expect(restored.lastApplied()).toBe(leader.lastApplied());
      }),
      { numRuns: 200 },
    );
  });
});
