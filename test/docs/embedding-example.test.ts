// Quoted in docs/embedding.md: a server in-process, the client library, committed$ / role$, and a custom state machine.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { parseZooCfg, startServer, ZabClient, type CommittedTxn, type ReplicatedStateMachine, type RoleState, type ZabServer } from '../../src/index.js';

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** A one-server ensemble in a fresh temp dir: its config, and a cleanup for afterEach. */
async function oneServerConfig() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-embed-'));
  const [quorumPort, electionPort] = [await freePort(), await freePort()];
  const config = parseZooCfg([
    'tickTime=200', 'initLimit=10', 'syncLimit=5', `dataDir=${dataDir}`,
    `server.1=127.0.0.1:${quorumPort}:${electionPort}`,
  ].join('\n'));
  return { config, cleanup: () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

it('runs a server in-process: writes and reads through the client, committed$ and role$', async () => {
  const { config, cleanup } = await oneServerConfig();
  cleanups.push(cleanup);
  // clientPort 0: the client port is picked when the server binds it.
  const server: ZabServer = await startServer({ config, id: 1, clientPort: 0, logger: pino({ level: 'silent' }) });
  cleanups.push(() => server.stop());

  const roles: RoleState[] = [];
  const committed: CommittedTxn[] = [];
  server.role$.subscribe((r) => roles.push(r));
  server.committed$.subscribe((t) => committed.push(t));
  // A one-server ensemble elects itself; it serves once in broadcast phase.
  await firstValueFrom(server.role$.pipe(filter((r) => r.role === 'leading' && r.phase === 'broadcast')));

  const { host, port } = server.clientAddress()!;
  const client = new ZabClient({ servers: `${host}:${port}` });
  cleanups.push(() => client.close());
  const created = await client.create('/greeting', 'hello');
  await client.setData('/greeting', 'hello, zab');
  const got = await client.getData('/greeting');

  expect(Buffer.from(got.data).toString()).toBe('hello, zab');
  expect(got.stat.version).toBe(1);
  expect(committed.map((t) => t.txn)).toMatchObject([
    { op: 'create', path: '/greeting' },
    { op: 'setData', path: '/greeting' },
  ]);
  expect(`0x${committed[0]!.zxid.toString(16)}`).toBe(created.zxid);
  expect(roles.at(-1)).toMatchObject({ serverId: 1, role: 'leading', phase: 'broadcast', leader: 1 });
});

/**
 * An event-sourced counter. The leader turns a request ("add n") into an idempotent txn ("set to v"),
 * counting the txns it prepared but not yet applied; every server folds committed txns in zxid order.
 */
class Counter implements ReplicatedStateMachine {
  value = 0;
  private pending = 0; // value after every prepared txn
  private applied = 0n;

  prepare(request: Uint8Array, _zxid: bigint): Uint8Array {
    const { add } = JSON.parse(Buffer.from(request).toString()) as { add: number };
    this.pending += add;
    return Buffer.from(JSON.stringify({ set: this.pending }));
  }
  apply(zxid: bigint, txn: Uint8Array): Uint8Array {
    this.value = (JSON.parse(Buffer.from(txn).toString()) as { set: number }).set;
    this.applied = zxid;
    return Buffer.from(String(this.value));
  }
  discardPending(): void {
    this.pending = this.value;
  }
  lastApplied(): bigint {
    return this.applied;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ value: this.value }));
  }
  restore(snapshot: Uint8Array, zxid: bigint): void {
    this.value = this.pending = (JSON.parse(Buffer.from(snapshot).toString()) as { value: number }).value;
    this.applied = zxid;
  }
  digest(): string {
    return `${this.value}@0x${this.applied.toString(16)}`;
  }
}

it('a custom state machine: the fold, replay, snapshots, and running it in a server', async () => {
  const leader = new Counter();
  const txns = [1, 2, 3].map((add, i) => ({ zxid: 0x100000001n + BigInt(i), txn: leader.prepare(Buffer.from(JSON.stringify({ add })), 0x100000001n + BigInt(i)) }));
  for (const t of txns) leader.apply(t.zxid, t.txn);
  expect(leader.value).toBe(6);

  // Any server folding the same committed txns reaches the same state...
  const follower = new Counter();
  for (const t of txns) follower.apply(t.zxid, t.txn);
  expect(follower.digest()).toBe(leader.digest());
  // ... and a snapshot plus the txns after it does too.
  const restored = new Counter();
  restored.restore(leader.snapshot(), leader.lastApplied());
  expect(restored.digest()).toBe('6@0x100000003');

  // Plugged into a server: it starts from the (empty) log and leads with the counter as its app.
  const { config, cleanup } = await oneServerConfig();
  cleanups.push(cleanup);
  const counter = new Counter();
  const server = await startServer({ config, id: 1, app: counter, logger: pino({ level: 'silent' }) });
  cleanups.push(() => server.stop());
  await firstValueFrom(server.role$.pipe(filter((r) => r.phase === 'broadcast')));
  expect(server.app).toBe(counter);
  expect(server.status()).toMatchObject({ serverId: 1, role: 'leading' });
  // Requests of your own application go in as bytes; the result is what apply() returned.
  const { zxid, result } = await server.submit(Buffer.from(JSON.stringify({ add: 5 })));
  expect(zxid).toBe('0x100000001');
  expect(Buffer.from(result).toString()).toBe('5');
  expect(counter.value).toBe(5);
});

it('observability: Prometheus metrics in-process, and the admin port with the inspector page', async () => {
  const { config, cleanup } = await oneServerConfig();
  cleanups.push(cleanup);
  // adminPort 0 picks a free port (in a zoo.cfg: adminPort.1=8081).
  const server = await startServer({ config, id: 1, clientPort: 0, adminPort: 0, logger: pino({ level: 'silent' }) });
  cleanups.push(() => server.stop());
  await firstValueFrom(server.role$.pipe(filter((r) => r.phase === 'broadcast')));
  await server.write({ op: 'create', path: '/x', data: Buffer.from('1') });

  // server.metrics.registry is a prom-client Registry: merge it into your own, or read the text.
  const text = await server.metrics.text();
  expect(text).toContain('zab_txns_committed_total{server_id="1"} 1');
  expect(text).toContain('zab_role{role="leading",server_id="1"} 1');

  // The admin port serves the same metrics, /status, and the live inspector page at /.
  const { port } = server.adminAddress()!;
  const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { role: string; znodes: number };
  expect(status).toMatchObject({ role: 'leading', znodes: 2 });
  expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('zab inspector');
});
