/**
 * The client port: TCP, length-prefixed MessagePack frames (see client-protocol.ts).
 *
 * Many requests may be in flight on one connection; responses leave in request order (ZooKeeper's
 * FIFO client order). Writes and syncs start at once (so they pipeline), but their responses, and
 * any later response on the connection, wait until they finish. Reads (getData, exists, getChildren, status) are
 * evaluated only when every earlier request on the connection has finished, so a read issued after
 * a write on the same connection sees that write.
 *
 * A frame that is not a valid request (bad length, not MessagePack, wrong shape) closes that
 * connection only.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { encodeFrame, FrameDecoder } from '../codec/frame.js';
import { writeBatch } from '../codec/write-batch.js';
import {
  DEFAULT_CLIENT_MAX_FRAME_BYTES,
  encodeMessage,
  parseRequest,
  READ_OPS,
  type ClientErrorCode,
  type MultiOpError,
  type ClientRequest,
  type ClientResponse,
} from './client-protocol.js';

/** What a handler throws to answer with a typed error. */
export class ClientOpError extends Error {
  override readonly name = 'ClientOpError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly zxid?: string,
    /** a failed multi: every op's outcome */
    readonly results?: MultiOpError[],
  ) {
    super(message);
  }
}

export interface ClientRequestHandler {
  /** Writes and sync: started as soon as the request arrives. */
  start(req: ClientRequest): Promise<unknown>;
  /** Reads (getData, exists, getChildren, status): evaluated synchronously when the request reaches the head of its connection. */
  read(req: ClientRequest): unknown;
}

export interface ClientPortOptions {
  host: string;
  port: number;
  handler: ClientRequestHandler;
  logger: Logger;
  maxFrameBytes?: number;
  /** stop reading from a connection while this many of its requests are unanswered (default 10000) */
  maxInFlight?: number;
}

interface Slot {
  req: ClientRequest;
  response: ClientResponse | null;
}

const isRead = (req: ClientRequest): boolean => READ_OPS.has(req.op);

function errorResponse(id: number, err: unknown): ClientResponse {
  if (err instanceof ClientOpError) {
    return {
      id,
      ok: false,
      error: { code: err.code, message: err.message, ...(err.zxid ? { zxid: err.zxid } : {}), ...(err.results ? { results: err.results } : {}) },
    };
  }
  return { id, ok: false, error: { code: 'Internal', message: err instanceof Error ? err.message : String(err) } };
}

class ClientConnection {
  private readonly decoder: FrameDecoder;
  private readonly queue: Slot[] = [];
  private head = 0;
  private closed = false;
  private paused = false;
  private flushScheduled = false;
  private readonly flushFn = (): void => this.flush();
  readonly remote: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly o: ClientPortOptions,
    private readonly onClose: (c: ClientConnection) => void,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = new FrameDecoder({ maxFrameSize: o.maxFrameBytes ?? DEFAULT_CLIENT_MAX_FRAME_BYTES });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.o.logger.debug({ err, client: this.remote }, 'client connection error'));
    socket.on('close', () => this.close());
  }

  private get pending(): number {
    return this.queue.length - this.head;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    const { frames, error } = this.decoder.push(chunk);
    for (const f of frames) {
      const req = parseRequest(f);
      if (typeof req === 'string') {
        this.fail(`malformed request frame: ${req}`);
        return;
      }
      this.accept(req);
      if (this.closed) return;
    }
    if (error) {
      this.fail(`bad frame: ${error.message}`);
      return;
    }
    this.flush();
    const max = this.o.maxInFlight ?? 10_000;
    if (!this.paused && this.pending >= max) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private accept(req: ClientRequest): void {
    const slot: Slot = { req, response: null };
    this.queue.push(slot);
    if (isRead(req)) return;
    let p: Promise<unknown>;
    try {
      p = this.o.handler.start(req);
    } catch (err) {
      slot.response = errorResponse(req.id, err);
      return;
    }
    p.then(
      (result) => {
        slot.response = { id: req.id, ok: true, result };
        this.scheduleFlush();
      },
      (err: unknown) => {
        slot.response = errorResponse(req.id, err);
        this.scheduleFlush();
      },
    );
  }

  /**
   * Responses completed together (a commit answers many requests at once) leave in one write: the
   * flush runs once the current burst of promise callbacks is over.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(this.flushFn);
  }

  /** Sends every answered response at the head of the queue, evaluating reads that reached it. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const out: Buffer[] = [];
    let bytes = 0;
    while (this.head < this.queue.length) {
      const slot = this.queue[this.head]!;
      if (slot.response === null && isRead(slot.req)) {
        try {
          slot.response = { id: slot.req.id, ok: true, result: this.o.handler.read(slot.req) };
        } catch (err) {
          slot.response = errorResponse(slot.req.id, err);
        }
      }
      if (slot.response === null) break;
      const frame = this.encode(slot.response);
      out.push(frame);
      bytes += frame.length;
      this.queue[this.head] = undefined as unknown as Slot;
      this.head++;
    }
    writeBatch(this.socket, out, bytes);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.pending < (this.o.maxInFlight ?? 10_000) / 2) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private encode(resp: ClientResponse): Buffer {
    try {
      return encodeFrame(encodeMessage(resp), { maxFrameSize: this.o.maxFrameBytes ?? DEFAULT_CLIENT_MAX_FRAME_BYTES });
    } catch (err) {
      return encodeFrame(encodeMessage(errorResponse(resp.id, new ClientOpError('Internal', `response not sendable: ${String(err)}`))));
    }
  }

  private fail(reason: string): void {
    this.o.logger.warn({ client: this.remote, reason }, 'closing client connection: protocol error');
    this.socket.destroy();
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this);
  }
}

export class ClientPort {
  private server: net.Server | null = null;
  private readonly connections = new Set<ClientConnection>();
  private bound: { host: string; port: number } | null = null;

  constructor(private readonly o: ClientPortOptions) {}

  /** Binds the port; rejects with a message naming the address when it cannot. */
  async start(): Promise<{ host: string; port: number }> {
    const server = net.createServer((socket) => {
      const c = new ClientConnection(socket, this.o, (x) => this.connections.delete(x));
      this.connections.add(c);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const hint =
          err.code === 'EADDRINUSE'
            ? 'another process uses it: stop it or change the client port in the config'
            : err.code === 'EADDRNOTAVAIL'
              ? 'no local interface has this address: fix clientPortAddress / the server line'
              : 'check the address and permissions';
        reject(new Error(`cannot listen for clients on ${this.o.host}:${this.o.port} (${err.code ?? err.message}): ${hint}`));
      };
      server.once('error', onError);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.o.logger.error({ err }, 'client port error'));
        resolve();
      });
    });
    const addr = server.address() as net.AddressInfo;
    this.bound = { host: this.o.host, port: addr.port };
    return this.bound;
  }

  address(): { host: string; port: number } | null {
    return this.bound;
  }

  connectionCount(): number {
    return this.connections.size;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of [...this.connections]) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
