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
    if (req.op === 'getData') {
      const v = this.data.get(req.path);
      if (v === undefined) throw new ClientOpError('NoNode', `getData ${req.path}: NoNode`);
      return { path: req.path, data: Buffer.from(v), zxid: '0x0' };
    }
    return { serverId: 1 };
  }
}

const bytes = (s: string): Buffer => Buffer.from(s);

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
        frame({ id: 1, op: 'create', path: '/a', data: bytes('1') }),
        frame({ id: 2, op: 'create', path: '/b', data: bytes('2') }),
        frame({ id: 3, op: 'getData', path: '/a' }),
        frame({ id: 4, op: 'status' }),
      ]),
    );
    await until(() => h.writes.length === 2);
    // The second write finishes first: nothing may be sent yet.
    h.writes[1]!.resolve({ zxid: '0x2', path: '/b' });
    await new Promise((r) => setTimeout(r, 50));
    expect(c.responses).toEqual([]);
    // The first write "commits" (the handler's state changes), then finishes.
    h.data.set('/a', '1');
    h.writes[0]!.resolve({ zxid: '0x1', path: '/a' });
    await until(() => c.responses.length === 4);
    expect(c.responses.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(c.responses[2]).toEqual({ id: 3, ok: true, result: { path: '/a', data: bytes('1'), zxid: '0x0' } });
  });

  it('returns typed errors in order', async () => {
    const h = new ScriptedHandler();
    const p = await startPort(h);
    const c = await rawConnect(p);
    c.socket.write(
      Buffer.concat([
        frame({ id: 7, op: 'setData', path: '/k', version: 3, data: bytes('v') }),
        frame({ id: 8, op: 'sync' }),
        frame({ id: 9, op: 'getData', path: '/missing' }),
      ]),
    );
    await until(() => h.writes.length === 2);
    h.writes[1]!.resolve({ zxid: '0x5' });
    h.writes[0]!.reject(new ClientOpError('BadVersion', 'setData /k: BadVersion', '0x4'));
    await until(() => c.responses.length === 3);
    expect(c.responses[0]).toEqual({ id: 7, ok: false, error: { code: 'BadVersion', message: 'setData /k: BadVersion', zxid: '0x4' } });
    expect(c.responses[1]).toEqual({ id: 8, ok: true, result: { zxid: '0x5' } });
    expect(c.responses[2]).toEqual({ id: 9, ok: false, error: { code: 'NoNode', message: 'getData /missing: NoNode' } });
  });

  it('a malformed frame closes that connection only', async () => {
    const h = new ScriptedHandler();
    const p = await startPort(h);
    const good = await rawConnect(p);
    const bad = await rawConnect(p);
    const garbage = await rawConnect(p);
    const huge = await rawConnect(p);
    // valid MessagePack, not a request (data must be bytes, not a string)
    bad.socket.write(frame({ id: 1, op: 'create', path: '/x', data: 'text' }));
    // not MessagePack at all (0xc1 is never used)
    garbage.socket.write(encodeFrame(Uint8Array.of(0xc1, 0xc1, 0xc1)));
    // a length prefix above the port's maximum frame size
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1 << 20);
    huge.socket.write(header);
    await Promise.all([bad.closed, garbage.closed, huge.closed]);
    expect(bad.responses).toEqual([]);
    good.socket.write(frame({ id: 1, op: 'exists', path: '/x' }));
    await until(() => good.responses.length === 1);
    expect(good.responses[0]).toMatchObject({ id: 1, ok: true });
    expect(good.socket.destroyed).toBe(false);
    expect(port!.connectionCount()).toBe(1);
  });

  it('frames split across TCP segments are reassembled', async () => {
    const h = new ScriptedHandler();
    h.data.set('/k', 'v');
    const p = await startPort(h);
    const c = await rawConnect(p);
    const all = Buffer.concat([frame({ id: 1, op: 'getData', path: '/k' }), frame({ id: 2, op: 'getData', path: '/k' })]);
    for (let i = 0; i < all.length; i++) {
      c.socket.write(all.subarray(i, i + 1));
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
            () => {
              if (req.op === 'setData') reject(new ClientOpError('BadVersion', 'nope', '0x9'));
              else if (req.op === 'multi') {
                const results = req.ops.map((o, i) => ({ op: 'error' as const, code: i === 0 ? 'Ok' : 'NotEmpty', path: o.path }));
                reject(new ClientOpError('NotEmpty', 'multi: NotEmpty', '0xa', results));
              } else resolve({ zxid: `0x${req.id.toString(16)}`, path: req.op === 'create' ? req.path : '' });
            },
            Math.random() * 5,
          ),
        ),
      read: (req) => ({ path: req.op === 'exists' ? req.path : '', stat: null, zxid: '0x0' }),
    };
    const p = await startPort(h);
    const client = new ZabClient({ servers: `127.0.0.1:${p}` });
    try {
      const order: number[] = [];
      const creates = Array.from({ length: 200 }, (_, i) => client.create(`/k${i}`, 'v').then((r) => order.push(parseInt(r.zxid, 16))));
      await Promise.all(creates);
      expect(order).toEqual([...order].sort((a, b) => a - b)); // answered in request order
      const err = await client.setData('/k', 'v', 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZabClientError);
      expect((err as ZabClientError).code).toBe('BadVersion');
      expect((err as ZabClientError).zxid).toBe('0x9');
      const multiErr = await client.multi([{ op: 'create', path: '/a' }, { op: 'delete', path: '/b' }]).catch((e: unknown) => e);
      expect(multiErr).toMatchObject({
        code: 'NotEmpty',
        zxid: '0xa',
        results: [
          { op: 'error', code: 'Ok', path: '/a' },
          { op: 'error', code: 'NotEmpty', path: '/b' },
        ],
      });
      expect(await client.exists('/z')).toEqual({ path: '/z', stat: null, zxid: '0x0' });
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
    h.data.set('/k', 'from-2');
    const port2 = new ClientPort({ host: '127.0.0.1', port: 0, handler: h, logger: silent });
    const p2 = (await port2.start()).port;
    const client = new ZabClient({ servers: `127.0.0.1:${p1},127.0.0.1:${p2}`, shuffle: false });
    try {
      const r = await client.getData('/k');
      expect(Buffer.from(r.data).toString()).toBe('from-2');
      expect(client.currentServer()).toBe(`127.0.0.1:${p2}`);
    } finally {
      await client.close();
      await port2.stop();
      await port1.stop();
    }
  });

  it('the client leaves a server that goes silent with requests in flight (a frozen leader) for another', async () => {
    // A "frozen" server: accepts connections, reads, never answers.
    const frozen = net.createServer((sock) => {
      sockets.push(sock);
      sock.resume(); // reads (and drops) requests, so it sees the client hang up
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    const pFrozen = (frozen.address() as net.AddressInfo).port;
    const h = new ScriptedHandler();
    h.data.set('/k', 'alive');
    const pLive = await startPort(h);
    const client = new ZabClient({ servers: `127.0.0.1:${pFrozen},127.0.0.1:${pLive}`, shuffle: false, silenceTimeoutMs: 300, requestTimeoutMs: 20_000 });
    try {
      const t0 = performance.now();
      // A write is not safe to repeat: its outcome is unknown, so it fails (not after the 20 s timeout).
      const write = client.create('/w', 'x').then(
        () => 'ok',
        (e: unknown) => (e as ZabClientError).code,
      );
      // A read is repeated on the next server.
      const read = client.getData('/k');
      expect(await write).toBe('ConnectionLoss');
      expect(Buffer.from((await read).data).toString()).toBe('alive');
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(client.currentServer()).toBe(`127.0.0.1:${pLive}`);
      // An idle connection is not dropped for silence: nothing was in flight.
      await new Promise((r) => setTimeout(r, 700));
      expect(client.currentServer()).toBe(`127.0.0.1:${pLive}`);
    } finally {
      await client.close();
      await new Promise((r) => frozen.close(r));
    }
  });
});
