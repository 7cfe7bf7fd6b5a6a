/** The client port's framing and ordering, over real sockets on 127.0.0.1, with a scripted handler. */
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ZabClient, ZabClientError } from '../../src/client/client.js';
import { encodeFrame, FrameDecoder } from '../../src/codec/frame.js';
import { ClientOpError, ClientPort, type ClientRequestHandler } from '../../src/server/client-port.js';
import { decodeMessage, encodeMessage, type ClientRequest, type ClientResponse } from '../../src/server/client-protocol.js';

const silent = pino({ level: 'silent' });

interface Deferred {
  req: ClientRequest;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** Writes wait until the test settles them; reads answer from a map at once. */
class ScriptedHandler implements ClientRequestHandler {
  readonly writes: Deferred[] = [];
  readonly data = new Map<string, string>();
  start(req: ClientRequest): Promise<unknown> {
    return new Promise((resolve, reject) => this.writes.push({ req, resolve, reject }));
  }
  read(req: ClientRequest): unknown {
    if (req.op === 'get') return { key: req.key, value: this.data.get(req.key) ?? null, version: 0, zxid: '0x0' };
    return { serverId: 1 };
  }
}

let port: ClientPort | null = null;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await port?.stop();
  port = null;
});

async function startPort(handler: ClientRequestHandler, maxFrameBytes = 4096): Promise<number> {
  port = new ClientPort({ host: '127.0.0.1', port: 0, handler, logger: silent, maxFrameBytes });
  return (await port.start()).port;
}

/** A raw connection that collects decoded responses. */
async function rawConnect(p: number): Promise<{ socket: net.Socket; responses: ClientResponse[]; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port: p });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const responses: ClientResponse[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk).frames) responses.push(decodeMessage(f) as ClientResponse);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, responses, closed };
}

const frame = (v: unknown): Buffer => encodeFrame(encodeMessage(v));

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('client port', () => {
  it('answers in request order even when later writes finish first, and a read waits for earlier writes', async () => {
    const h = new ScriptedHandler();
    const p = await startPort(h);
    const c = await rawConnect(p);
    c.socket.write(
      Buffer.concat([
        frame({ id: 1, op: 'put', key: 'a', value: '1' }),
        frame({ id: 2, op: 'put', key: 'b', value: '2' }),
        frame({ id: 3, op: 'get', key: 'a' }),
        frame({ id: 4, op: 'status' }),
      ]),
    );
    await until(() => h.writes.length === 2);
    // The second write finishes first: nothing may be sent yet.
    h.writes[1]!.resolve({ zxid: '0x2', version: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(c.responses).toEqual([]);
    // The first write "commits" (the handler's state changes), then finishes.
    h.data.set('a', '1');
    h.writes[0]!.resolve({ zxid: '0x1', version: 1 });
    await until(() => c.responses.length === 4);
    expect(c.responses.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(c.responses[2]).toEqual({ id: 3, ok: true, result: { key: 'a', value: '1', version: 0, zxid: '0x0' } });
  });

  it('returns typed errors in order', async () => {
    const h = new ScriptedHandler();
    const p = await startPort(h);
    const c = await rawConnect(p);
    c.socket.write(Buffer.concat([frame({ id: 7, op: 'cas', key: 'k', expectedVersion: 3, value: 'v' }), frame({ id: 8, op: 'sync' })]));
    await until(() => h.writes.length === 2);
    h.writes[1]!.resolve({ zxid: '0x5' });
    h.writes[0]!.reject(new ClientOpError('BadVersion', 'cas k: BadVersion', '0x4'));
    await until(() => c.responses.length === 2);
    expect(c.responses[0]).toEqual({ id: 7, ok: false, error: { code: 'BadVersion', message: 'cas k: BadVersion', zxid: '0x4' } });
    expect(c.responses[1]).toEqual({ id: 8, ok: true, result: { zxid: '0x5' } });
  });

  it('a malformed frame closes that connection only', async () => {
    const h = new ScriptedHandler();
    const p = await startPort(h);
    const good = await rawConnect(p);
    const bad = await rawConnect(p);
    const garbage = await rawConnect(p);
    const huge = await rawConnect(p);
    // valid MessagePack, not a request
    bad.socket.write(frame({ hello: 'world' }));
    // not MessagePack at all (0xc1 is never used)
    garbage.socket.write(encodeFrame(Uint8Array.of(0xc1, 0xc1, 0xc1)));
    // a length prefix above the port's maximum frame size
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1 << 20);
    huge.socket.write(header);
    await Promise.all([bad.closed, garbage.closed, huge.closed]);
    expect(bad.responses).toEqual([]);
    good.socket.write(frame({ id: 1, op: 'get', key: 'x' }));
    await until(() => good.responses.length === 1);
    expect(good.responses[0]).toMatchObject({ id: 1, ok: true });
    expect(good.socket.destroyed).toBe(false);
    expect(port!.connectionCount()).toBe(1);
  });

  it('frames split across TCP segments are reassembled', async () => {
    const h = new ScriptedHandler();
    h.data.set('k', 'v');
    const p = await startPort(h);
    const c = await rawConnect(p);
    const bytes = Buffer.concat([frame({ id: 1, op: 'get', key: 'k' }), frame({ id: 2, op: 'get', key: 'k' })]);
    for (let i = 0; i < bytes.length; i++) {
      c.socket.write(bytes.subarray(i, i + 1));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => c.responses.length === 2);
    expect(c.responses.map((r) => r.id)).toEqual([1, 2]);
  });

  it('the client library pipelines many requests and surfaces typed errors', async () => {
    const h: ClientRequestHandler = {
      start: (req) =>
        new Promise((resolve, reject) =>
          setTimeout(
            () => (req.op === 'cas' ? reject(new ClientOpError('BadVersion', 'nope', '0x9')) : resolve({ zxid: `0x${req.id.toString(16)}`, version: req.id })),
            Math.random() * 5,
          ),
        ),
      read: (req) => ({ key: req.op === 'get' ? req.key : '', value: null, version: 0, zxid: '0x0' }),
    };
    const p = await startPort(h);
    const client = new ZabClient({ servers: `127.0.0.1:${p}` });
    try {
      const order: number[] = [];
      const puts = Array.from({ length: 200 }, (_, i) => client.put(`k${i}`, 'v').then((r) => order.push(r.version)));
      await Promise.all(puts);
      expect(order).toEqual([...order].sort((a, b) => a - b)); // answered in request order
      const err = await client.cas('k', 1, 'v').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZabClientError);
      expect((err as ZabClientError).code).toBe('BadVersion');
      expect((err as ZabClientError).zxid).toBe('0x9');
    } finally {
      await client.close();
    }
  });

  it('the client fails over to the next server when one answers NotServing', async () => {
    const notServing: ClientRequestHandler = {
      start: () => Promise.reject(new ClientOpError('NotServing', 'electing')),
      read: () => {
        throw new ClientOpError('NotServing', 'electing');
      },
    };
    const p1 = await startPort(notServing);
    const port1 = port!;
    const h = new ScriptedHandler();
    h.data.set('k', 'from-2');
    const port2 = new ClientPort({ host: '127.0.0.1', port: 0, handler: h, logger: silent });
    const p2 = (await port2.start()).port;
    const client = new ZabClient({ servers: `127.0.0.1:${p1},127.0.0.1:${p2}`, shuffle: false });
    try {
      const r = await client.get('k');
      expect(r.value).toBe('from-2');
      expect(client.currentServer()).toBe(`127.0.0.1:${p2}`);
    } finally {
      await client.close();
      await port2.stop();
      await port1.stop();
    }
  });
});
