/** The data tree, case by case: ZooKeeper's semantics for create/delete/setData/check/multi, stats, and the leader's pending overlay. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DataTree,
  DataTreeError,
  decodeTreeResult,
  decodeTreeTxn,
  encodeTreeRequest,
  encodeTreeTxn,
  type DataTreeRequest,
  type DataTreeResult,
} from '../../src/app/data-tree.js';
import { pathProblem, sequenceSuffix } from '../../src/app/znode-path.js';

const z = (n: number): bigint => BigInt(n);
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (u: Uint8Array): string => new TextDecoder().decode(u);

/** A tree whose clock reads 1000, 1001, ... */
function tree(): DataTree {
  let t = 1000;
  return new DataTree({ now: () => t++ });
}

/** Leader path for one request: prepare then apply at the next zxid. */
function runner(dt = tree()): { dt: DataTree; run: (req: DataTreeRequest) => DataTreeResult; zxid: () => bigint } {
  let zxid = 0n;
  return {
    dt,
    run: (req) => {
      zxid++;
      return decodeTreeResult(dt.apply(zxid, dt.prepare(encodeTreeRequest(req), zxid)));
    },
    zxid: () => zxid,
  };
}

const create = (path: string, data = '', sequential = false): DataTreeRequest => ({ op: 'create', path, data: b(data), ...(sequential ? { sequential } : {}) });
const setData = (path: string, data: string, version = -1): DataTreeRequest => ({ op: 'setData', path, data: b(data), version });
const del = (path: string, version = -1): DataTreeRequest => ({ op: 'delete', path, version });

/** The rules written the obvious way (split into components): the one-pass check must say the same. */
function pathProblemByComponents(path: unknown, sequential = false): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0) return 'path must not be empty';
  if (path[0] !== '/') return 'path must start with /';
  const p = sequential ? `${path}1` : path;
  if (p.length === 1) return null;
  if (p.endsWith('/')) return 'path must not end with /';
  for (const part of p.slice(1).split('/')) {
    if (part === '') return 'path must not contain an empty component (//)';
    if (part === '.' || part === '..') return 'relative paths (. and ..) are not allowed';
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i);
      if (c === 0) return 'path must not contain the NUL character';
      if ((c > 0x00 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
        return `invalid character \\u${c.toString(16).padStart(4, '0')} in path`;
      }
    }
  }
  return null;
}

describe('znode paths', () => {
  it('gives the same answer, and the same message, as the rules applied component by component', () => {
    const char = fc.constantFrom('/', '/', '/', '.', '.', 'a', 'b', 'é', '\u0000', '\u0001', '\u007f', '\ud83d', '\ufff0', ' ');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 12 }), fc.boolean(), (chars, sequential) => {
        const path = chars.join('');
        expect(pathProblem(path, sequential)).toBe(pathProblemByComponents(path, sequential));
      }),
      { numRuns: 20_000 },
    );
    expect(pathProblem(42)).toBe(pathProblemByComponents(42));
  });


  it('validates like ZooKeeper', () => {
    for (const ok of ['/', '/a', '/a/b', '/a.b', '/.a', '/a..', '/zookeeper', '/a b', '/é']) expect(pathProblem(ok), ok).toBeNull();
    for (const bad of ['', 'a', 'a/b', '/a/', '//', '/a//b', '/.', '/..', '/a/./b', '/a/../b', '/a\u0000', '/a\u0001', '/\u007f', '/\ud83d\ude00'])
      expect(pathProblem(bad), JSON.stringify(bad)).not.toBeNull();
    expect(pathProblem('/a/', true)).toBeNull(); // sequential: the suffix follows
    expect(pathProblem('/a//', true)).not.toBeNull();
    expect(pathProblem('/.', true)).toBeNull(); // becomes /.1
    expect(pathProblem('/', true)).toBeNull();
    expect(sequenceSuffix(0)).toBe('0000000000');
    expect(sequenceSuffix(42)).toBe('0000000042');
  });
});

describe('DataTree', () => {
  it('starts with the root only', () => {
    const dt = tree();
    expect(dt.size()).toBe(1);
    expect(dt.getChildren('/')).toEqual({ children: [], stat: expect.objectContaining({ numChildren: 0, cversion: 0 }) });
    expect(dt.exists('/a')).toBeNull();
    expect(dt.getData('/a')).toBeNull();
    expect(() => dt.getData('a')).toThrow(DataTreeError);
  });

  it('create: stat fields, parent cversion/pzxid/numChildren', () => {
    const { dt, run } = runner();
    const r = run(create('/a', 'hello'));
    expect(r).toEqual({
      ok: true,
      op: 'create',
      path: '/a',
      stat: { czxid: 1n, mzxid: 1n, pzxid: 1n, ctime: 1000, mtime: 1000, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 5, numChildren: 0 },
    });
    expect(text(dt.getData('/a')!.data)).toBe('hello');
    const root = dt.exists('/')!;
    expect(root).toMatchObject({ cversion: 1, numChildren: 1, pzxid: 1n, mzxid: 0n, version: 0 });
    run(create('/a/b'));
    expect(dt.exists('/a')).toMatchObject({ czxid: 1n, mzxid: 1n, pzxid: 2n, cversion: 1, numChildren: 1, version: 0 });
    expect(dt.exists('/a/b')).toMatchObject({ czxid: 2n, dataLength: 0 });
    expect(run(create('/a'))).toEqual({ ok: false, code: 'NodeExists', path: '/a' });
    expect(run(create('/x/y'))).toEqual({ ok: false, code: 'NoNode', path: '/x/y' });
    expect(run(create('/bad/'))).toEqual({ ok: false, code: 'BadArguments', path: '/bad/' });
    expect(run(create('/'))).toEqual({ ok: false, code: 'NodeExists', path: '/' });
    // failed requests change nothing but lastApplied
    expect(dt.exists('/')).toMatchObject({ cversion: 1, numChildren: 1 });
    expect(dt.lastApplied()).toBe(6n);
    expect(dt.getChildren('/')!.children).toEqual(['a']);
  });

  it('setData: version, mzxid, mtime, dataLength; version checks', () => {
    const { dt, run } = runner();
    run(create('/n', 'v0')); // zxid 1, time 1000
    expect(run(setData('/n', 'v1', 0))).toMatchObject({ ok: true, op: 'setData', stat: { version: 1, mzxid: 2n, czxid: 1n, ctime: 1000, mtime: 1001, dataLength: 2 } });
    expect(run(setData('/n', 'nope', 0))).toEqual({ ok: false, code: 'BadVersion', path: '/n' });
    expect(run(setData('/n', 'longer', -1))).toMatchObject({ ok: true, stat: { version: 2, mzxid: 4n, mtime: 1003, dataLength: 6 } });
    expect(run(setData('/missing', 'x'))).toEqual({ ok: false, code: 'NoNode', path: '/missing' });
    expect(text(dt.getData('/n')!.data)).toBe('longer');
    // setData does not touch the parent
    expect(dt.exists('/')).toMatchObject({ cversion: 1, pzxid: 1n });
  });

  it('delete: version check, NotEmpty, parent cversion/pzxid', () => {
    const { dt, run } = runner();
    run(create('/p'));
    run(create('/p/c'));
    run(setData('/p/c', 'x'));
    expect(run(del('/p'))).toEqual({ ok: false, code: 'NotEmpty', path: '/p' });
    expect(run(del('/p/c', 0))).toEqual({ ok: false, code: 'BadVersion', path: '/p/c' });
    expect(run(del('/p/c', 1))).toEqual({ ok: true, op: 'delete', path: '/p/c' }); // zxid 6
    expect(dt.exists('/p')).toMatchObject({ cversion: 2, numChildren: 0, pzxid: 6n });
    expect(run(del('/p/c'))).toEqual({ ok: false, code: 'NoNode', path: '/p/c' });
    expect(run(del('/p'))).toMatchObject({ ok: true });
    expect(run(del('/'))).toEqual({ ok: false, code: 'BadArguments', path: '/' });
    expect(dt.size()).toBe(1);
    expect(dt.exists('/')).toMatchObject({ cversion: 2, numChildren: 0, pzxid: 8n });
  });

  it('sequential creates: 10-digit suffix from the parent cversion (which deletes advance too)', () => {
    const { dt, run } = runner();
    run(create('/q'));
    expect(run(create('/q/job-', 'a', true))).toMatchObject({ ok: true, path: '/q/job-0000000000' });
    expect(run(create('/q/job-', 'b', true))).toMatchObject({ ok: true, path: '/q/job-0000000001' });
    run(create('/q/plain'));
    run(del('/q/plain'));
    expect(run(create('/q/job-', 'c', true))).toMatchObject({ ok: true, path: '/q/job-0000000004' });
    expect(run(create('/q/', '', true))).toMatchObject({ ok: true, path: '/q/0000000005' });
    expect(dt.getChildren('/q')!.children).toEqual(['0000000005', 'job-0000000000', 'job-0000000001', 'job-0000000004']);
    expect(run(create('/nope/x-', '', true))).toEqual({ ok: false, code: 'NoNode', path: '/nope/x-' });
  });

  it('multi: all-or-nothing, per-op results like MultiResponse', () => {
    const { dt, run } = runner();
    run(create('/m', 'x'));
    const ok = run({
      op: 'multi',
      ops: [
        { op: 'check', path: '/m', version: 0 },
        { op: 'create', path: '/m/a', data: b('1') },
        { op: 'create', path: '/m/s-', data: b(''), sequential: true },
        { op: 'setData', path: '/m/a', data: b('2'), version: 0 },
        { op: 'delete', path: '/m/a', version: 1 },
      ],
    });
    expect(ok).toMatchObject({
      ok: true,
      op: 'multi',
      results: [
        { op: 'check', path: '/m' },
        { op: 'create', path: '/m/a', stat: { czxid: 2n, version: 0 } },
        { op: 'create', path: '/m/s-0000000001' },
        { op: 'setData', path: '/m/a', stat: { version: 1, mzxid: 2n } },
        { op: 'delete', path: '/m/a' },
      ],
    });
    expect(dt.getChildren('/m')!.children).toEqual(['s-0000000001']);
    expect(dt.exists('/m')).toMatchObject({ cversion: 3, numChildren: 1, pzxid: 2n });

    const before = Buffer.from(dt.snapshot());
    const failed = run({
      op: 'multi',
      ops: [
        { op: 'create', path: '/m/b', data: b('') },
        { op: 'setData', path: '/m', data: b('y'), version: 7 },
        { op: 'delete', path: '/m/s-0000000001', version: -1 },
      ],
    });
    expect(failed).toEqual({
      ok: false,
      code: 'BadVersion',
      path: '/m',
      results: [
        { op: 'error', code: 'Ok', path: '/m/b' },
        { op: 'error', code: 'BadVersion', path: '/m' },
        { op: 'error', code: 'RuntimeInconsistency', path: '/m/s-0000000001' },
      ],
    });
    expect(dt.exists('/m/b')).toBeNull();
    // only lastApplied moved
    expect(Buffer.from(dt.snapshot())).toEqual(before);
    expect(dt.exists('/m')).toMatchObject({ version: 0, cversion: 3 });
    expect(dt.pendingPaths()).toBe(0);
    // a multi inside a multi is refused; an empty multi succeeds
    expect(run({ op: 'multi', ops: [{ op: 'multi', ops: [] } as never] })).toMatchObject({ ok: false, code: 'BadArguments' });
    expect(run({ op: 'multi', ops: [] })).toEqual({ ok: true, op: 'multi', results: [] });
  });

  it('multi ops see the earlier ops of the same multi (create then child, delete then re-create)', () => {
    const { dt, run } = runner();
    run(create('/x'));
    const r = run({
      op: 'multi',
      ops: [
        { op: 'delete', path: '/x', version: 0 },
        { op: 'create', path: '/x', data: b('again') },
        { op: 'create', path: '/x/y', data: b('') },
      ],
    });
    expect(r).toMatchObject({ ok: true });
    expect(dt.exists('/x')).toMatchObject({ czxid: 2n, numChildren: 1, cversion: 1 });
    expect(dt.exists('/')).toMatchObject({ cversion: 3, numChildren: 1 });
  });

  it('turns requests into idempotent txns carrying the outcome', () => {
    const dt = tree();
    const txn = decodeTreeTxn(dt.prepare(encodeTreeRequest(create('/s-', 'v', true)), 1n));
    expect(txn).toMatchObject({ op: 'create', path: '/s-0000000000', parentCversion: 1, time: 1000 });
    expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(setData('/s-0000000000', 'w', 5)), 2n))).toEqual({ op: 'error', code: 'BadVersion', path: '/s-0000000000' });
    expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(setData('/s-0000000000', 'w', 0)), 3n))).toMatchObject({ op: 'setData', version: 1, time: 1002 });
    expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(del('/s-0000000000')), 4n))).toEqual({ op: 'delete', path: '/s-0000000000', parentCversion: 2 });
    // a follower folding the txns never reads its clock
    const follower = new DataTree({ now: () => { throw new Error('apply read the clock'); } });
    follower.apply(1n, encodeTreeTxn({ op: 'create', path: '/a', data: b('x'), parentCversion: 1, time: 5 }));
    expect(follower.exists('/a')).toMatchObject({ ctime: 5, mtime: 5 });
  });

  it('apply skips txns at or below lastApplied (replay after a snapshot)', () => {
    const { dt, run } = runner();
    run(create('/a'));
    run(del('/a'));
    const digest = dt.digest();
    dt.apply(1n, encodeTreeTxn({ op: 'create', path: '/a', data: b(''), parentCversion: 1, time: 0 }));
    expect(dt.digest()).toBe(digest);
    expect(dt.exists('/a')).toBeNull();
  });

  describe('pending overlay (leader batches: several prepares before their applies)', () => {
    it('two sequential creates in one batch get different suffixes', () => {
      const dt = tree();
      const t1 = dt.prepare(encodeTreeRequest(create('/lock-', '', true)), 1n);
      const t2 = dt.prepare(encodeTreeRequest(create('/lock-', '', true)), 2n);
      expect(decodeTreeTxn(t1)).toMatchObject({ path: '/lock-0000000000', parentCversion: 1 });
      expect(decodeTreeTxn(t2)).toMatchObject({ path: '/lock-0000000001', parentCversion: 2 });
      expect(dt.pendingPaths()).toBe(3);
      expect(decodeTreeResult(dt.apply(1n, t1))).toMatchObject({ ok: true, path: '/lock-0000000000' });
      expect(decodeTreeResult(dt.apply(2n, t2))).toMatchObject({ ok: true, path: '/lock-0000000001' });
      expect(dt.pendingPaths()).toBe(0);
      expect(dt.exists('/')).toMatchObject({ cversion: 2, numChildren: 2 });
    });

    it('a create after a pending delete works; a second create of the same path is NodeExists', () => {
      const { dt, run } = runner();
      run(create('/a', 'old'));
      const t2 = dt.prepare(encodeTreeRequest(del('/a')), 2n);
      const t3 = dt.prepare(encodeTreeRequest(create('/a', 'new')), 3n);
      const t4 = dt.prepare(encodeTreeRequest(create('/a', 'newer')), 4n);
      expect(decodeTreeTxn(t3)).toMatchObject({ op: 'create', path: '/a', parentCversion: 3 });
      expect(decodeTreeTxn(t4)).toEqual({ op: 'error', code: 'NodeExists', path: '/a' });
      dt.apply(2n, t2);
      expect(dt.exists('/a')).toBeNull();
      dt.apply(3n, t3);
      dt.apply(4n, t4);
      expect(text(dt.getData('/a')!.data)).toBe('new');
      expect(dt.exists('/a')).toMatchObject({ czxid: 3n, version: 0 });
    });

    it('setData and a child create after a pending create; version checks see pending versions', () => {
      const dt = tree();
      const txns = [
        create('/n', 'a'),
        setData('/n', 'b', 0),
        setData('/n', 'c', 0), // BadVersion: the pending setData made it version 1
        setData('/n', 'd', 1),
        create('/n/child'),
        del('/n'), // NotEmpty: a pending child
      ].map((r, i) => dt.prepare(encodeTreeRequest(r), z(i + 1)));
      expect(txns.map((t) => decodeTreeTxn(t).op)).toEqual(['create', 'setData', 'error', 'setData', 'create', 'error']);
      expect(decodeTreeTxn(txns[5]!)).toMatchObject({ code: 'NotEmpty' });
      const results = txns.map((t, i) => decodeTreeResult(dt.apply(z(i + 1), t)));
      expect(results.map((r) => r.ok)).toEqual([true, true, false, true, true, false]);
      expect(dt.getData('/n')).toMatchObject({ stat: { version: 2, numChildren: 1, cversion: 1, pzxid: 5n } });
      expect(text(dt.getData('/n')!.data)).toBe('d');
    });

    it('discardPending forgets prepared txns: the next prepare judges against committed state', () => {
      const dt = tree();
      dt.prepare(encodeTreeRequest(create('/a')), 1n);
      dt.prepare(encodeTreeRequest(create('/s-', '', true)), 2n);
      expect(dt.pendingPaths()).toBe(3);
      dt.discardPending();
      expect(dt.pendingPaths()).toBe(0);
      // the truncated create of /a never happened: creating it again is fine, and the sequence restarts
      expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(create('/a')), 1n))).toMatchObject({ op: 'create', parentCversion: 1 });
      expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(create('/s-', '', true)), 2n))).toMatchObject({ path: '/s-0000000001' });
    });

    it('a failed multi leaves nothing pending', () => {
      const dt = tree();
      const t = dt.prepare(encodeTreeRequest({ op: 'multi', ops: [create('/a') as never, { op: 'delete', path: '/zz', version: -1 }] }), 1n);
      expect(decodeTreeTxn(t)).toMatchObject({ op: 'multi', txns: [{ op: 'error', code: 'Ok' }, { op: 'error', code: 'NoNode' }] });
      expect(dt.pendingPaths()).toBe(0);
      expect(decodeTreeTxn(dt.prepare(encodeTreeRequest(create('/a')), 2n))).toMatchObject({ op: 'create' });
    });
  });

  it('snapshot and restore are exact; digests ignore insertion order', () => {
    const { dt, run } = runner();
    run(create('/a', 'x'));
    run(create('/a/b', 'y'));
    run(create('/c-', 'z', true));
    run(setData('/a', 'xx'));
    const copy = new DataTree();
    copy.restore(dt.snapshot(), dt.lastApplied());
    expect(copy.digest()).toBe(dt.digest());
    expect(copy.getData('/a')).toEqual(dt.getData('/a'));
    expect(copy.getChildren('/')).toEqual(dt.getChildren('/'));
    expect(Buffer.from(copy.snapshot())).toEqual(Buffer.from(dt.snapshot()));
    expect(() => copy.restore(new Uint8Array([0xc0]), 0n)).toThrow(/not a data-tree snapshot/);
  });

  it('reads return copies', () => {
    const { dt, run } = runner();
    run(create('/a', 'x'));
    const got = dt.getData('/a')!;
    got.data[0] = 0;
    got.stat.version = 99;
    expect(dt.getData('/a')).toMatchObject({ stat: { version: 0 } });
    expect(text(dt.getData('/a')!.data)).toBe('x');
  });
});
