/**
 * The protocol runtime over the real transport: three ZabNodes on 127.0.0.1 elect a leader,
 * replicate writes, and elect again after the leader stops. A smoke test of the PeerTransport
 * contract as ZabNode uses it (storage on a temp dir without fsync).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_TIMING } from '../../machines/types.js';
import { encodeRequest, KvRegister } from '../../src/app/kv-register.js';
import type { ServerSpec } from '../../src/config/types.js';
import { MajorityQuorum } from '../../src/quorum/majority.js';
import { ZabNode } from '../../src/runtime/node.js';
import { realClock } from '../../src/runtime/ports.js';
import { DiskEpochStore } from '../../src/storage/disk-epoch-store.js';
import { DiskSnapshotStore } from '../../src/storage/disk-snapshot-store.js';
import { DiskTxnLog } from '../../src/storage/disk-txn-log.js';
import { TcpPeerTransport } from '../../src/transport/tcp-peer-transport.js';
import { ensemble, sleep, waitFor } from './helpers.js';

const silent = pino({ level: 'silent' });
const CLUSTER = 'tcp-smoke';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(servers: ServerSpec[], sid: number, dir: string): Promise<{ node: ZabNode; transport: TcpPeerTransport }> {
  const transport = new TcpPeerTransport({ self: sid, servers, clusterId: CLUSTER, logger: silent, reconnect: { minMs: 20, maxMs: 500 } });
  await transport.start();
  const d = path.join(dir, `s${sid}`);
  const node = new ZabNode({
    sid,
    quorum: new MajorityQuorum(servers.map((s) => s.id)),
    timing: { ...DEFAULT_TIMING, tickTime: 200 },
    transport,
    log: await DiskTxnLog.open(path.join(d, 'log'), { clusterId: CLUSTER, fsync: false, logger: silent }),
    snapshots: await DiskSnapshotStore.open(path.join(d, 'snap'), { clusterId: CLUSTER, fsync: false, logger: silent }),
    epochs: await DiskEpochStore.open(path.join(d, 'epochs'), { fsync: false, logger: silent }),
    app: new KvRegister(),
    clock: realClock,
    logger: silent,
    incarnation: 1,
  });
  await node.start();
  cleanup.push(async () => {
    node.stop();
    await transport.shutdown();
  });
  return { node, transport };
}

async function submitWithRetry(node: ZabNode, key: string): Promise<bigint> {
  for (let i = 0; ; i++) {
    try {
      return (await node.submit(encodeRequest({ op: 'put', key, value: 'v' }))).zxid;
    } catch (e) {
      if (i > 200) throw e;
      await sleep(50);
    }
  }
}

describe('ZabNode over TcpPeerTransport', () => {
  it('elects, replicates, and re-elects after the leader stops', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'zab-tcp-'));
    cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
    const servers = await ensemble(3);
    const nodes = await Promise.all([1, 2, 3].map((sid) => server(servers, sid, dir)));
    await waitFor(
      () => nodes.filter((n) => n.node.getStatus().role === 'leading').length === 1 && nodes.filter((n) => n.node.getStatus().role === 'following').length === 2,
      'a leader and two followers',
      30_000,
    );
    const zxids: bigint[] = [];
    for (let i = 0; i < 30; i++) zxids.push(await submitWithRetry(nodes[i % 3].node, `k${i}`));
    const applied = () => nodes.map((n) => n.node.getStatus().lastApplied);
    await waitFor(() => new Set(applied()).size === 1, 'all applied the same', 10_000);

    const leader = nodes.find((n) => n.node.getStatus().role === 'leading')!;
    leader.node.stop();
    await leader.transport.shutdown();
    const rest = nodes.filter((n) => n !== leader);
    await waitFor(
      () => rest.some((n) => n.node.getStatus().role === 'leading') && rest.some((n) => n.node.getStatus().role === 'following'),
      'a new leader among the survivors',
      30_000,
    );
    const z = await submitWithRetry(rest[0].node, 'after');
    expect(z > zxids[zxids.length - 1]).toBe(true);
    await waitFor(() => rest[0].node.getStatus().lastApplied === rest[1].node.getStatus().lastApplied, 'survivors agree', 10_000);
  });
});
