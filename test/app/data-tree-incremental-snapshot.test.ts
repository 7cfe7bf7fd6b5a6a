/**
 * DataTree.beginSnapshot: written in slices while txns keep being applied, the snapshot restores to
 * exactly the tree as it was when it began (copy on write), whatever the ops in between: creates,
 * deletes (of nodes already written or not yet), re-creates, setData, multi; several may be in progress at
 * once (a periodic one and a learner's SNAP); a restore cancels them.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree, encodeTreeRequest, type DataTreeRequest } from '../../src/app/data-tree.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

function tree(): DataTree {
  let t = 1000;
  return new DataTree({ now: () => t++ });
}

/** Applies requests through the leader path (prepare, then apply at the next zxid). */
function runner(dt: DataTree) {
  let zxid = 0n;
  return (req: DataTreeRequest): void => {
    zxid++;
    dt.apply(zxid, dt.prepare(encodeTreeRequest(req), zxid));
  };
}

/** A tree of `n` nodes under /d0../d9, some with children. */
function populated(n: number): { dt: DataTree; run: (r: DataTreeRequest) => void } {
  const dt = tree();
  const run = runner(dt);
  for (let d = 0; d < 10; d++) run({ op: 'create', path: `/d${d}`, data: b(`dir ${d}`) });
  for (let i = 0; i < n; i++) run({ op: 'create', path: `/d${i % 10}/n${i}`, data: b(`v${i}`) });
  return { dt, run };
}

const digestOfRestored = (bytes: Uint8Array, zxid: bigint): string => {
  const t = tree();
  t.restore(bytes, zxid);
  return t.digest();
};

const opArb = (n: number) =>
  fc.oneof(
    fc.record({ k: fc.constant('set' as const), i: fc.nat(n - 1), v: fc.string({ maxLength: 8 }) }),
    fc.record({ k: fc.constant('del' as const), i: fc.nat(n - 1) }),
    fc.record({ k: fc.constant('create' as const), i: fc.nat(2 * n), v: fc.string({ maxLength: 8 }) }),
    fc.record({ k: fc.constant('multi' as const), i: fc.nat(n - 1), v: fc.string({ maxLength: 8 }) }),
  );

function request(op: { k: 'set' | 'del' | 'create' | 'multi'; i: number; v?: string }): DataTreeRequest {
  const path = `/d${op.i % 10}/n${op.i}`;
  switch (op.k) {
    case 'set':
      return { op: 'setData', path, data: b(op.v ?? ''), version: -1 };
    case 'del':
      return { op: 'delete', path, version: -1 };
    case 'create':
      return { op: 'create', path, data: b(op.v ?? '') };
    case 'multi':
      return {
        op: 'multi',
        ops: [
          { op: 'setData', path, data: b(op.v ?? ''), version: -1 },
          { op: 'delete', path: `/d${(op.i + 1) % 10}/n${op.i + 1}`, version: -1 },
          { op: 'create', path: `/d${(op.i + 1) % 10}/n${op.i + 1}`, data: b('again') },
        ],
      };
  }
}

describe('DataTree incremental snapshot', () => {
  it('restores to the tree as it began, whatever is applied between slices', () => {
    fc.assert(
      fc.property(fc.array(fc.array(opArb(900), { maxLength: 12 }), { minLength: 1, maxLength: 6 }), (rounds) => {
        const { dt, run } = populated(900);
        const before = dt.digest();
        const job = dt.beginSnapshot();
        expect(job.zxid).toBe(dt.lastApplied());
        let done = false;
        for (const ops of rounds) {
          for (const op of ops) run(request(op)); // failed ops (NoNode, NodeExists) become error txns: fine
          if (!done) done = job.step(0); // at least 256 rows per step: several steps for 911 nodes
        }
        while (!done) {
          run(request({ k: 'set', i: 5, v: 'late' }));
          done = job.step(0);
        }
        expect(digestOfRestored(job.bytes(), job.zxid)).toBe(before.replace(/^applied:[0-9a-f]+/, `applied:${job.zxid.toString(16)}`));
      }),
      { numRuns: 60 },
    );
  });

  it('gives the same tree as snapshot() when nothing changes meanwhile', () => {
    const { dt } = populated(1000);
    const job = dt.beginSnapshot();
    let steps = 0;
    while (!job.step(0)) steps++;
    expect(steps).toBeGreaterThan(1);
    expect(digestOfRestored(job.bytes(), job.zxid)).toBe(digestOfRestored(dt.snapshot(), dt.lastApplied()));
  });

  it('snapshot() is the same document as earlier versions wrote in one pack, and those still restore', () => {
    const { dt } = populated(50);
    const packr = new Packr({ useRecords: false });
    const doc = packr.unpack(dt.snapshot()) as { format: string; nodes: unknown[] };
    expect(doc.format).toBe('data-tree/1');
    expect(doc.nodes).toHaveLength(dt.size());
    const old = packr.pack(doc); // how snapshot() encoded it before
    expect(digestOfRestored(old, dt.lastApplied())).toBe(dt.digest());
  });

  it('rows across the 1 MiB buffers they are gathered in, and a row bigger than one, restore exactly', () => {
    const dt = tree();
    const run = runner(dt);
    const big = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    for (let i = 0; i < 12; i++) run({ op: 'create', path: `/m${i}`, data: big(200_000 + i, i) });
    run({ op: 'create', path: '/huge', data: big(1_500_000, 7) });
    for (let i = 0; i < 500; i++) run({ op: 'create', path: `/m3/s${i}`, data: b(`small ${i}`) });
    const job = dt.beginSnapshot();
    while (!job.step(0));
    const bytes = job.bytes();
    expect(bytes.length).toBeGreaterThan(3_900_000);
    expect(digestOfRestored(bytes, job.zxid)).toBe(dt.digest());
    expect(digestOfRestored(dt.snapshot(), dt.lastApplied())).toBe(dt.digest());
  });

  it('snapshots in progress at once each keep their own start; a restore cancels them; bytes() before the end is an error', () => {
    const { dt, run } = populated(1000);
    const first = dt.beginSnapshot();
    first.step(0);
    expect(() => first.bytes()).toThrow(/not finished/);
    const atFirst = dt.digest();
    run({ op: 'setData', path: '/d1/n1', data: b('changed'), version: -1 });
    run({ op: 'create', path: '/d2/new', data: b('new') });
    const second = dt.beginSnapshot(); // a learner's SNAP while the periodic snapshot is being written
    second.step(0);
    const atSecond = dt.digest();
    run({ op: 'delete', path: '/d1/n1', version: -1 });
    run({ op: 'setData', path: '/d2/new', data: b('again'), version: -1 });
    while (!first.step(1));
    while (!second.step(1));
    expect(digestOfRestored(first.bytes(), first.zxid)).toBe(atFirst);
    expect(digestOfRestored(second.bytes(), second.zxid)).toBe(atSecond);
    expect(atFirst).not.toBe(atSecond);

    const a = dt.beginSnapshot();
    const c = dt.beginSnapshot();
    a.step(0);
    dt.restore(dt.snapshot(), dt.lastApplied());
    expect(() => a.step(0)).toThrow(/cancelled/);
    expect(() => c.step(0)).toThrow(/cancelled/);
    run({ op: 'setData', path: '/d1/n2', data: b('x'), version: -1 }); // no job: nothing saved, nothing breaks
    const last = dt.beginSnapshot();
    while (!last.step(5));
    expect(digestOfRestored(last.bytes(), last.zxid)).toBe(dt.digest());
  });
});
