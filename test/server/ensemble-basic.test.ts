/** `zab ensemble --nodes 3`: elects a leader, takes writes through every server, reads see them after sync, stops cleanly. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZabClient, ZabClientError } from '../../src/client/client.js';
import { alive, clientAddr, ensureBuilt, freeBasePort, readAll, startEnsemble, statusOf, waitUntil, ZabProc } from './helpers.js';

let tmp = '';
let ens: ZabProc | null = null;

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-ens-'));
}, 180_000);

afterAll(async () => {
  await ens?.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('zab ensemble', () => {
  it('elects a leader, accepts writes through every server, and reads see them after sync', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    ens = startEnsemble(dataDir, base, 3);
    await ens.waitForOutput(/ensemble ready: 3 server\(s\), leader \d/);
    for (let i = 1; i <= 3; i++) expect(ens.stdout).toContain(`server ${i}: client ${clientAddr(base, i)}`);

    const statuses = await Promise.all([1, 2, 3].map((i) => statusOf(clientAddr(base, i))));
    const leaders = statuses.filter((s) => s.role === 'leading');
    expect(leaders).toHaveLength(1);
    const leader = leaders[0]!;
    expect(statuses.filter((s) => s.role === 'following').every((s) => s.leader === leader.serverId && s.epoch === leader.epoch)).toBe(true);
    expect(leader.learners?.map((l) => l.id).sort()).toEqual(statuses.filter((s) => s !== leader).map((s) => s.serverId).sort());

    // A write through each server (followers forward to the leader).
    const keys: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const c = new ZabClient({ servers: clientAddr(base, i), shuffle: false });
      try {
        const r = await c.put(`key${i}`, `value${i}`);
        expect(r.version).toBe(1);
        expect(r.zxid).toMatch(/^0x[0-9a-f]+$/);
        keys.push(`key${i}`);
        // cas and delete with versions, through the same server
        const cas = await c.cas(`key${i}`, 1, `value${i}b`);
        expect(cas.version).toBe(2);
        const bad = await c.cas(`key${i}`, 1, 'nope').catch((e: unknown) => e);
        expect(bad).toBeInstanceOf(ZabClientError);
        expect((bad as ZabClientError).code).toBe('BadVersion');
        // FIFO on one connection: a get right after a write sees it
        const [, got] = await Promise.all([c.put(`fifo${i}`, 'x'), c.get(`fifo${i}`)]);
        expect(got.value).toBe('x');
        await c.delete(`fifo${i}`, 1);
      } finally {
        await c.close();
      }
    }
    for (let i = 1; i <= 3; i++) {
      const seen = await readAll(clientAddr(base, i), [...keys, 'fifo1', 'fifo2', 'fifo3']);
      expect(Object.fromEntries(seen)).toEqual({ key1: 'value1b', key2: 'value2b', key3: 'value3b', fifo1: null, fifo2: null, fifo3: null });
    }
    const after = await Promise.all([1, 2, 3].map((i) => statusOf(clientAddr(base, i))));
    await waitUntil('lastApplied to converge', async () => {
      const s = await Promise.all([1, 2, 3].map((i) => statusOf(clientAddr(base, i))));
      return new Set(s.map((x) => x.lastApplied)).size === 1;
    });

    // The client CLI, as a script would use it.
    const cli = new ZabProc(['client', '--server', [1, 2, 3].map((i) => clientAddr(base, i)).join(','), 'get', '--sync', 'key2'], tmp);
    expect((await cli.exited).code).toBe(0);
    expect(JSON.parse(cli.stdout.trim())).toMatchObject({ ok: true, op: 'get', key: 'key2', value: 'value2b', version: 2 });

    // SIGTERM stops every server cleanly and exits 0.
    const r = await ens.terminate();
    expect(r.code).toBe(0);
    for (const s of after) expect(alive(s.pid)).toBe(false);
    for (let i = 1; i <= 3; i++) expect(fs.readFileSync(path.join(dataDir, `server.${i}`, 'server.log'), 'utf8')).toContain('server stopped');
  });
});
