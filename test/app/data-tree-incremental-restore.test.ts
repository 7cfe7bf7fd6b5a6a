/**
 * DataTree.beginRestore: a snapshot restored in slices gives exactly the tree restore() gives, whatever
 * the slice budget and whichever writer made the bytes; the tree being replaced is untouched until the
 * last step, and stays so when the snapshot turns out damaged or the restore is cancelled.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree, encodeTreeRequest, type DataTreeRequest } from '../../src/app/data-tree.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const packr = new Packr({ useRecords: false });

function tree(): DataTree {
  let t = 1000;
  return new DataTree({ now: () => t++ });
}

function runner(dt: DataTree) {
  let zxid = dt.lastApplied();
  return (req: DataTreeRequest): void => {
    zxid++;
    dt.apply(zxid, dt.prepare(encodeTreeRequest(req), zxid));
  };
}

function populated(n: number): DataTree {
  const dt = tree();
  const run = runner(dt);
  for (let d = 0; d < 10; d++) run({ op: 'create', path: `/d${d}`, data: b(`dir ${d}`) });
  for (let i = 0; i < n; i++) run({ op: 'create', path: `/d${i % 10}/n${i}`, data: b(`v${i}`) });
  for (let i = 0; i < n; i += 7) run({ op: 'setData', path: `/d${i % 10}/n${i}`, data: b(`w${i}`), version: -1 });
  return dt;
}

/** A small tree that is not empty, to restore over. */
function target(): DataTree {
  const dt = tree();
  runner(dt)({ op: 'create', path: '/old', data: b('old') });
  return dt;
}

/** Steps `job` to the end with budget 0 (one batch of rows per step), checking the target is untouched meanwhile. */
function restoreInSlices(into: DataTree, bytes: Uint8Array, zxid: bigint): number {
  const before = into.digest();
  const job = into.beginRestore(bytes, zxid);
  let steps = 1;
  while (!job.step(0)) {
    expect(into.digest()).toBe(before);
    steps++;
  }
  expect(into.lastApplied()).toBe(zxid);
  return steps;
}

const oneGo = (bytes: Uint8Array, zxid: bigint): string => {
  const t = tree();
  t.restore(bytes, zxid);
  return t.digest();
};

describe('DataTree incremental restore', () => {
  it('in slices gives the tree restore() gives, for snapshot() and beginSnapshot() bytes', () => {
    const dt = populated(3000);
    const whole = dt.snapshot();
    const into = target();
    const steps = restoreInSlices(into, whole, dt.lastApplied());
    expect(steps).toBeGreaterThan(10);
    expect(into.digest()).toBe(dt.digest());
    expect(into.digest()).toBe(oneGo(whole, dt.lastApplied()));

    const job = dt.beginSnapshot();
    while (!job.step(1));
    const again = target();
    restoreInSlices(again, job.bytes(), job.zxid);
    expect(again.digest()).toBe(dt.digest());
    // the restored tree takes txns like any other
    runner(again)({ op: 'create', path: '/d3/after', data: b('x') });
    expect(again.getData('/d3/after')?.stat.czxid).toBe(dt.lastApplied() + 1n);
    expect(again.getChildren('/d3')?.children).toContain('after');
  });

  it('reads other layouts of the same document (one pack, keys in another order) and gives the same tree', () => {
    const dt = populated(300);
    const doc = packr.unpack(dt.snapshot()) as { format: string; nodes: unknown[] };
    for (const bytes of [packr.pack(doc), packr.pack({ nodes: doc.nodes, format: doc.format })]) {
      const into = target();
      restoreInSlices(into, bytes, dt.lastApplied());
      expect(into.digest()).toBe(dt.digest());
    }
    const small = tree(); // fewer than 16 nodes: a fixarray header
    runner(small)({ op: 'create', path: '/a', data: b('a') });
    const into = target();
    restoreInSlices(into, small.snapshot(), small.lastApplied());
    expect(into.digest()).toBe(small.digest());
  });

  it('any slice budgets, any tree: the same digest as restore() in one go', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), dir: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 40 }), v: fc.string({ maxLength: 8 }) }),
      fc.record({ kind: fc.constant('delete' as const), dir: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('set' as const), dir: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 40 }), v: fc.string({ maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.array(fc.constantFrom(0, 0, 0, 0.01, 1), { minLength: 1, maxLength: 8 }), (ops, budgets) => {
        const dt = tree();
        const run = runner(dt);
        for (let d = 0; d < 4; d++) run({ op: 'create', path: `/d${d}`, data: b('') });
        for (const o of ops) {
          const path = `/d${o.dir}/n${o.n}`;
          if (o.kind === 'create') run({ op: 'create', path, data: b(o.v) });
          else if (o.kind === 'delete') run({ op: 'delete', path, version: -1 });
          else run({ op: 'setData', path, data: b(o.v), version: -1 });
        }
        const bytes = dt.snapshot();
        const into = target();
        const job = into.beginRestore(bytes, dt.lastApplied());
        let i = 0;
        while (!job.step(budgets[i++ % budgets.length]!));
        expect(into.digest()).toBe(dt.digest());
        expect(into.digest()).toBe(oneGo(bytes, dt.lastApplied()));
      }),
      { numRuns: 150 },
    );
  });

  it('a damaged snapshot is an error and leaves the tree as it was', () => {
    const dt = populated(500);
    const whole = dt.snapshot();
    const cases: [Uint8Array, RegExp][] = [
      [whole.subarray(0, Math.floor(whole.length * 0.6)), /./],
      [packr.pack({ format: 'something-else/1', nodes: [] }), /not a data-tree snapshot/],
      [packr.pack({ format: 'data-tree/1', nodes: [['/a/b', b(''), 1n, 1n, 1n, 0, 0, 0, 0], ['/', b(''), 0n, 0n, 0n, 0, 0, 0, 0]] }), /has no parent/],
      [packr.pack({ format: 'data-tree/1', nodes: [['/a', b(''), 1n, 1n, 1n, 0, 0, 0, 0]] }), /without a root/],
      [packr.pack({ format: 'data-tree/1', nodes: [['/', 'not bytes']] }), /a row is not/],
    ];
    for (const [bytes, message] of cases) {
      const into = target();
      const before = into.digest();
      expect(() => {
        const job = into.beginRestore(bytes, 99n);
        while (!job.step(0));
      }).toThrow(message);
      expect(into.digest()).toBe(before);
      expect(() => into.restore(bytes, 99n)).toThrow(message);
      expect(into.digest()).toBe(before);
    }
  });

  it('cancelled: the tree stays as it was and the job cannot go on', () => {
    const dt = populated(2000);
    const into = target();
    const before = into.digest();
    const job = into.beginRestore(dt.snapshot(), dt.lastApplied());
    expect(job.step(0)).toBe(false);
    job.cancel();
    expect(() => job.step(0)).toThrow(/cancelled/);
    expect(into.digest()).toBe(before);
  });
});
