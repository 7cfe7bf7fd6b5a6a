/** The embedded API: startServer() in-process (a one-server ensemble), its observables, and the client. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseZooCfg, startServer, ZabClient, type ZabServer } from '../../src/index.js';
import { freeBasePort } from './helpers.js';

let tmp = '';
let server: ZabServer | null = null;

afterAll(async () => {
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('startServer', () => {
  it('runs a server in-process: role$, committed$, snapshots, client round trip, clean stop', async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-embedded-'));
    const base = await freeBasePort(1);
    const config = parseZooCfg(
      [
        'tickTime=200',
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${tmp}`,
        'snapCount=10',
        `server.1=127.0.0.1:${base + 100}:${base + 200};127.0.0.1:${base}`,
      ].join('\n'),
    );
    server = await startServer({ config, id: 1, logger: pino({ level: 'silent' }) });
    await firstValueFrom(server.role$.pipe(filter((r) => r.role === 'leading' && r.phase === 'broadcast')));
    const committed = firstValueFrom(server.committed$.pipe(take(25), toArray()));
    const client = new ZabClient({ servers: `127.0.0.1:${base}` });
    try {
      await client.create('/app', 'root');
      for (let i = 0; i < 24; i++) await client.create('/app/k-', `v${i}`, { sequential: true });
      const txns = await committed;
      expect(txns[0]!.txn).toMatchObject({ op: 'create', path: '/app', parentCversion: 1 });
      expect(txns.slice(1).map((t) => t.txn)).toEqual(
        Array.from({ length: 24 }, (_, i) =>
          expect.objectContaining({ op: 'create', path: `/app/k-${String(i).padStart(10, '0')}`, parentCversion: i + 1, data: Buffer.from(`v${i}`) }),
        ),
      );
      const got = await client.getData('/app/k-0000000007');
      expect(Buffer.from(got.data).toString()).toBe('v7');
      expect(got.stat).toMatchObject({ version: 0, dataLength: 2, czxid: `0x${txns[8]!.zxid.toString(16)}` });
      expect((await client.getChildren('/app')).children).toHaveLength(24);
      expect((await client.exists('/nope')).stat).toBeNull();
      const st = await client.status();
      expect(st).toMatchObject({ serverId: 1, role: 'leading', phase: 'broadcast', pid: process.pid });
      expect(st.lastApplied).toBe(`0x${txns[24]!.zxid.toString(16)}`);
    } finally {
      await client.close();
    }
    await expect.poll(() => fs.readdirSync(tmp).filter((f) => f.startsWith('snapshot.')).length).toBeGreaterThan(0);
    expect(server.snapshotsTaken()).toBeGreaterThan(0);
    await server.stop();
    server = null;
  });
});
