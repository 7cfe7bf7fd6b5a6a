/**
 * The admin port of an in-process server (a one-server ensemble, admin port 0): the page and its
 * assets, /status (the JSON of `zab status`), /metrics (Prometheus text with the protocol's
 * figures), /events (SSE: hello with the statecharts' active states, then live records), errors.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseZooCfg, startServer, ZabClient, type ZabServer } from '../../src/index.js';
import { freeBasePort } from '../server/helpers.js';

let tmp = '';
let server: ZabServer;
let admin = '';
let base = 0;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-admin-'));
  base = await freeBasePort(1);
  const config = parseZooCfg(
    ['tickTime=200', 'initLimit=10', 'syncLimit=5', `dataDir=${tmp}`, `server.1=127.0.0.1:${base + 100}:${base + 200};127.0.0.1:${base}`].join('\n'),
  );
  server = await startServer({ config, id: 1, logger: pino({ level: 'silent' }), adminPort: 0 });
  await firstValueFrom(server.role$.pipe(filter((r) => r.phase === 'broadcast')));
  admin = `http://127.0.0.1:${server.adminAddress()!.port}`;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function get(p: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(admin + p);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Reads SSE messages from /events until `until` says stop. */
function readEvents(until: (events: { event: string; data: unknown }[]) => boolean, ms = 10_000): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const got: { event: string; data: unknown }[] = [];
    let buf = '';
    const req = http.get(admin + '/events', (res) => {
      expect(res.headers['content-type']).toBe('text/event-stream');
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) got.push({ event, data: JSON.parse(data) });
        }
        if (until(got)) {
          clearTimeout(t);
          req.destroy();
          resolve(got);
        }
      });
    });
    const t = setTimeout(() => {
      req.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(got).slice(0, 2000)}`));
    }, ms);
    req.on('error', () => undefined);
  });
}

describe('admin port', () => {
  it('serves the inspector page, the ensemble and the diagrams', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('<title>zab inspector (server 1)</title>');
    expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // self-contained: works offline
    const ens = JSON.parse((await get('/ensemble')).body);
    expect(ens).toEqual({ self: 1, servers: [{ id: 1, admin: admin, client: `127.0.0.1:${base}` }] });
    for (const m of ['peer', 'looking', 'follower', 'leader', 'learnerHandler']) {
      const svg = await get(`/statecharts/${m}.svg`);
      expect(svg.status).toBe(200);
      expect(svg.type).toBe('image/svg+xml');
      expect(svg.body).toContain(`data-state="${m}.`);
      expect(svg.body).toBe(fs.readFileSync(path.join(import.meta.dirname, '../../docs/statecharts', `${m}.svg`), 'utf8'));
    }
    expect((await get('/statecharts/nope.svg')).status).toBe(404);
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('try /, /status, /metrics, /events');
    expect((await fetch(admin + '/status', { method: 'POST' })).status).toBe(405);
  });

  it('/status is the JSON of `zab status`; /metrics counts the protocol’s work', async () => {
    const client = new ZabClient({ servers: `127.0.0.1:${base}` });
    try {
      for (let i = 0; i < 5; i++) await client.create(`/m${i}`, 'x');
      const viaClient = await client.status();
      const viaHttp = JSON.parse((await get('/status')).body);
      expect(viaHttp).toMatchObject({ ...viaClient, uptimeMs: expect.any(Number), connections: expect.any(Number), memory: expect.any(Object) });
      expect(viaHttp).toMatchObject({ serverId: 1, role: 'leading', phase: 'broadcast', znodes: 6 });
    } finally {
      await client.close();
    }
    const m = await get('/metrics');
    expect(m.type).toContain('text/plain');
    const value = (name: string): number => {
      const line = m.body.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
      if (!line) throw new Error(`no ${name} in ${m.body.slice(0, 500)}`);
      return Number(line.split(' ').at(-1));
    };
    expect(value('zab_txns_proposed_total')).toBe(5);
    expect(value('zab_txns_committed_total')).toBe(5);
    expect(value('zab_log_fsync_seconds_count')).toBeGreaterThan(0);
    expect(value('zab_elections_total')).toBe(1);
    expect(value('zab_election_duration_seconds_count')).toBe(1);
    expect(m.body).toContain('zab_role{role="leading",server_id="1"} 1');
    expect(m.body).toContain('zab_role{role="looking",server_id="1"} 0');
    expect(value('zab_epoch')).toBe(1);
    expect(value('zab_last_logged_zxid_counter')).toBe(5);
    expect(m.body).toMatch(/zab_queue_depth\{queue="storage",server_id="1"\} 0/);
    expect(m.body).toMatch(/zab_process_resident_memory_bytes\{server_id="1"\} \d+/);
  });

  it('/events: hello with every actor’s active states, then live transitions and events', async () => {
    const client = new ZabClient({ servers: `127.0.0.1:${base}` });
    try {
      const events = readEvents((got) => got.some((e) => e.event === 'insp' && (e.data as { event?: string }).event?.startsWith('CLIENT_REQUESTS')));
      await new Promise((r) => setTimeout(r, 200));
      await client.create('/live', 'x');
      const got = await events;
      const hello = got[0]!;
      expect(hello.event).toBe('hello');
      const d = hello.data as { serverId: number; status: { role: string }; actors: { actor: string; machine: string; states: string[] }[]; recent: { kind: string }[] };
      expect(d.serverId).toBe(1);
      expect(d.status.role).toBe('leading');
      expect(d.actors).toEqual(
        expect.arrayContaining([
          { actor: 'peer-1', machine: 'peer', states: ['peer', 'peer.leading'] },
          expect.objectContaining({ actor: 'role', machine: 'leader', states: expect.arrayContaining(['leader.broadcast']) }),
        ]),
      );
      expect(d.recent.some((r) => r.kind === 'transition')).toBe(true);
    } finally {
      await client.close();
    }
  });
});
