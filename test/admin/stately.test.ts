/** `statelyInspector`: the server's inspection events reach a Stately WebSocket inspector. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { afterAll, expect, it } from 'vitest';
import { parseZooCfg, startServer, type ZabServer } from '../../src/index.js';
import { freeBasePort } from '../server/helpers.js';

let tmp = '';
let server: ZabServer | null = null;
let wss: WebSocketServer | null = null;

afterAll(async () => {
  await server?.stop();
  wss?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

it('forwards XState inspection events of every actor to a ws:// inspector', async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss!.once('listening', r));
  const messages: { type?: string; sessionId?: string; name?: string }[] = [];
  wss.on('connection', (sock) => sock.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()))));
  const { port } = wss.address() as { port: number };

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-stately-'));
  const base = await freeBasePort(1);
  const config = parseZooCfg(['tickTime=200', 'initLimit=10', 'syncLimit=5', `dataDir=${tmp}`, `server.1=127.0.0.1:${base + 100}:${base + 200};127.0.0.1:${base}`].join('\n'));
  server = await startServer({ config, id: 1, statelyInspector: `ws://127.0.0.1:${port}`, logger: pino({ level: 'silent' }) });
  await expect.poll(() => messages.filter((m) => m.type === '@xstate.actor').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => messages.some((m) => m.type === '@xstate.snapshot'), { timeout: 10_000 }).toBe(true);
  await expect(startServer({ config, id: 1, statelyInspector: 'http://nope', logger: pino({ level: 'silent' }) })).rejects.toThrow(/must start with ws:\/\//);
});
