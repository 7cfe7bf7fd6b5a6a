/**
 * Snapshotter: a data tree is serialised in slices, the event loop (here: the test) applying txns
 * between them, and the snapshot written is the tree at the zxid where it began; a stop in the
 * middle abandons it; an app without beginSnapshot is serialised in one go.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DataTree, encodeTreeRequest, type DataTreeRequest } from '../../src/app/data-tree.js';
import { KvRegister } from '../../src/app/kv-register.js';
import { Snapshotter } from '../../src/server/snapshotter.js';
import type { Snapshot, SnapshotStore, TxnLog } from '../../src/storage/ports.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const silent = pino({ level: 'silent' });

function stores() {
  const saved: Snapshot[] = [];
  const purged: bigint[] = [];
  const snapshots: SnapshotStore = {
    save: async (s) => void saved.push(s),
    loadNewest: async () => saved.at(-1) ?? null,
    list: async () => saved.map((s) => ({ zxid: s.zxid, size: s.data.length, file: '' })) as unknown as Awaited<ReturnType<SnapshotStore['list']>>,
  };
  const log = { purgeUpTo: async (z: bigint) => void purged.push(z) } as unknown as TxnLog;
  return { saved, purged, snapshots, log };
}

function setup() {
  let t = 1000;
  const dt = new DataTree({ now: () => t++ });
  let zxid = 0n;
  const run = (req: DataTreeRequest): bigint => {
    zxid++;
    dt.apply(zxid, dt.prepare(encodeTreeRequest(req), zxid));
    return zxid;
  };
  for (let i = 0; i < 2000; i++) run({ op: 'create', path: `/n${i}`, data: b(`v${i}`) });
  return { dt, run };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('Snapshotter', () => {
  it('serialises a data tree in slices while txns are applied, at the zxid where it began', async () => {
    const { dt, run } = setup();
    const s = stores();
    const deferred: (() => void)[] = [];
    const sn = new Snapshotter({ app: dt, ...s, snapCount: 2, logger: silent, random: () => 0, sliceMs: 0, defer: (fn) => deferred.push(fn) });
    const at = run({ op: 'setData', path: '/n1', data: b('at the snapshot'), version: -1 });
    const expected = dt.digest();
    sn.onApplied(at); // threshold 1: begins, writes a first slice
    expect(deferred).toHaveLength(1);
    let i = 0;
    while (deferred.length > 0) {
      // between slices: changes to nodes written and not yet written, deletions, creations
      sn.onApplied(run({ op: 'setData', path: `/n${i * 300}`, data: b('later'), version: -1 }));
      sn.onApplied(run({ op: 'delete', path: `/n${1999 - i}`, version: -1 }));
      sn.onApplied(run({ op: 'create', path: `/new${i}`, data: b('new') }));
      i++;
      deferred.shift()!();
    }
    expect(i).toBeGreaterThan(3);
    await settle();
    expect(s.saved.map((x) => x.zxid)).toEqual([at]);
    const restored = new DataTree();
    restored.restore(s.saved[0]!.data, at);
    expect(restored.digest()).toBe(expected);
    expect(sn.taken).toBe(1);
  });

  it('stopping in the middle abandons the snapshot', async () => {
    const { dt, run } = setup();
    const s = stores();
    const deferred: (() => void)[] = [];
    const sn = new Snapshotter({ app: dt, ...s, snapCount: 2, logger: silent, random: () => 0, sliceMs: 0, defer: (fn) => deferred.push(fn) });
    sn.onApplied(run({ op: 'setData', path: '/n1', data: b('x'), version: -1 }));
    const stopped = sn.stop();
    deferred.shift()!();
    await stopped;
    expect(s.saved).toEqual([]);
    run({ op: 'setData', path: '/n2', data: b('y'), version: -1 }); // the tree no longer copies anything for it
    expect(dt.size()).toBe(2001);
  });

  it('an app without beginSnapshot is serialised in one go', async () => {
    const app = new KvRegister();
    const s = stores();
    const sn = new Snapshotter({ app, ...s, snapCount: 2, logger: silent, random: () => 0 });
    sn.onApplied(app.lastApplied());
    await settle();
    expect(s.saved.map((x) => x.zxid)).toEqual([app.lastApplied()]);
  });
});
