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
        const r = await c.create(`/key${i}`, `value${i}`);
        expect(r.stat.version).toBe(0);
        expect(r.zxid).toMatch(/^0x[0-9a-f]+$/);
        expect(r.stat.czxid).toBe(r.zxid);
        keys.push(`/key${i}`);
        // conditional setData and delete with versions, through the same server
        const set = await c.setData(`/key${i}`, `value${i}b`, 0);
        expect(set.stat.version).toBe(1);
        const bad = await c.setData(`/key${i}`, 'nope', 0).catch((e: unknown) => e);
        expect(bad).toBeInstanceOf(ZabClientError);
        expect((bad as ZabClientError).code).toBe('BadVersion');
        // sequential children from any server get distinct names
        const seq = await c.create('/seq-', '', { sequential: true });
        expect(seq.path).toMatch(/^\/seq-\d{10}$/);
        // FIFO on one connection: a read right after a write sees it
        const [, got] = await Promise.all([c.create(`/fifo${i}`, 'x'), c.getData(`/fifo${i}`)]);
        expect(Buffer.from(got.data).toString()).toBe('x');
        await c.delete(`/fifo${i}`, 0);
      } finally {
        await c.close();
      }
    }
    for (let i = 1; i <= 3; i++) {
      const seen = await readAll(clientAddr(base, i), [...keys, '/fifo1', '/fifo2', '/fifo3']);
      expect(Object.fromEntries(seen)).toEqual({ '/key1': 'value1b', '/key2': 'value2b', '/key3': 'value3b', '/fifo1': null, '/fifo2': null, '/fifo3': null });
      const c = new ZabClient({ servers: clientAddr(base, i), shuffle: false });
      try {
        expect((await c.getChildren('/')).children).toEqual(['key1', 'key2', 'key3', 'seq-0000000001', 'seq-0000000005', 'seq-0000000009']);
      } finally {
        await c.close();
      }
    }
    const after = await Promise.all([1, 2, 3].map((i) => statusOf(clientAddr(base, i))));
    await waitUntil('lastApplied to converge', async () => {
      const s = await Promise.all([1, 2, 3].map((i) => statusOf(clientAddr(base, i))));
      return new Set(s.map((x) => x.lastApplied)).size === 1;
    });

    // The client CLI, as a script would use it.
    const servers = [1, 2, 3].map((i) => clientAddr(base, i)).join(',');
    const zab = async (...args: string[]): Promise<{ code: number | null; out: Record<string, unknown>[] }> => {
      const p = new ZabProc(['client', '--server', servers, ...args], tmp);
      const { code } = await p.exited;
      return { code, out: p.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
    };
    expect(await zab('get', '--sync', '/key2')).toMatchObject({ code: 0, out: [{ ok: true, op: 'get', path: '/key2', data: 'value2b', stat: { version: 1 } }] });
    expect(await zab('create', '/cli', 'héllo')).toMatchObject({ code: 0, out: [{ ok: true, op: 'create', path: '/cli', stat: { version: 0, dataLength: 6 } }] });
    expect(await zab('create', '-s', '/cli/n-', 'a')).toMatchObject({ code: 0, out: [{ ok: true, path: '/cli/n-0000000000' }] });
    expect(await zab('set', '/cli', 'x', '-v', '3')).toMatchObject({ code: 1, out: [{ ok: false, op: 'set', error: 'BadVersion' }] });
    expect(await zab('set', '/cli', 'x', '-v', '0')).toMatchObject({ code: 0, out: [{ ok: true, stat: { version: 1 } }] });
    expect(await zab('ls', '--sync', '/cli')).toMatchObject({ code: 0, out: [{ ok: true, op: 'ls', children: ['n-0000000000'] }] });
    expect(await zab('stat', '--sync', '/cli')).toMatchObject({ code: 0, out: [{ ok: true, op: 'stat', stat: { version: 1, numChildren: 1, cversion: 1 } }] });
    expect(await zab('delete', '/cli')).toMatchObject({ code: 1, out: [{ ok: false, error: 'NotEmpty' }] });
    expect(await zab('delete', '/cli/n-0000000000', '-v', '0')).toMatchObject({ code: 0, out: [{ ok: true, op: 'delete' }] });
    expect(await zab('stat', '/nope')).toMatchObject({ code: 1, out: [{ ok: false, error: 'NoNode' }] });

    // SIGTERM stops every server cleanly and exits 0.
    const r = await ens.terminate();
    expect(r.code).toBe(0);
    for (const s of after) expect(alive(s.pid)).toBe(false);
    for (let i = 1; i <= 3; i++) expect(fs.readFileSync(path.join(dataDir, `server.${i}`, 'server.log'), 'utf8')).toContain('server stopped');
  });
});
