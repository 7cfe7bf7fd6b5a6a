/**
 * ZabClient: the client library. One connection at a time to one server of the ensemble; many requests
 * in flight on it, answered in order. Promise methods for each request, and observables for what
 * happens (`connection$`, `results$`, `watchStatus$`).
 *
 * Failover: when the connection is lost, or a server answers NotServing (it is electing or syncing),
 * the client moves to the next server (with exponential backoff once it has tried them all) and
 * re-sends what it may: requests never sent or refused as NotServing always; requests whose outcome is
 * unknown (sent on a connection that broke, or answered ConnectionLoss) only if repeating them is
 * harmless: reads (getData, exists, getChildren), sync, status and, unless `retrySetData: false`, an
 * unconditional setData (version -1: it sets the same data again, so the version may advance twice).
 * create, delete, conditional setData and multi then fail with code ConnectionLoss: read the nodes
 * to find out what happened.
 *
 * Data is bytes: a string argument is sent as its UTF-8 encoding; getData returns a Uint8Array.
 */
import net from 'node:net';
import { Observable, Subject, catchError, EMPTY, exhaustMap, from, timer } from 'rxjs';
import { encodeFrame, FrameDecoder } from '../codec/frame.js';
import { writeBatch } from '../codec/write-batch.js';
import {
  DEFAULT_CLIENT_MAX_FRAME_BYTES,
  encodeMessage,
  formatHostPort,
  parseHostPorts,
  parseResponse,
  type ClientErrorCode,
  type ClientCall,
  type ClientOp,
  type ClientResponse,
  type CreateResult,
  type DeleteResult,
  type ExistsResult,
  type GetChildrenResult,
  type GetDataResult,
  type MultiOp,
  type MultiOpError,
  type MultiResult,
  type ServerStatus,
  type SetDataResult,
  type SyncResult,
} from '../server/client-protocol.js';

export type {
  CreateResult,
  DeleteResult,
  ExistsResult,
  GetChildrenResult,
  GetDataResult,
  MultiOp,
  MultiOpError,
  MultiOpResult,
  MultiResult,
  ServerStatus,
  SetDataResult,
  SyncResult,
  ZnodeStat,
} from '../server/client-protocol.js';

/** znode data: bytes, or a string sent as UTF-8 */
export type ZnodeData = Uint8Array | string;

/** how long after the first NotServing the client keeps retrying fast (elections take well under this) */
const NOT_SERVING_FAST_RETRY_MS = 1000;

/**
 * How long to wait before the next connection attempt after `failures` failed ones in a row: none
 * until every server was tried once, then exponential backoff by rounds over the servers. While
 * servers answer NotServing (alive, electing or syncing; `notServingForMs` since the first such
 * answer), and for at most a second of it, every 10-40 ms instead: the first write after a failover
 * should not wait out a doubled backoff. `random` in [0, 1) spreads clients apart.
 */
export function reconnectDelayMs(
  failures: number,
  servers: number,
  notServingForMs: number | null,
  o: { backoffMinMs: number; backoffMaxMs: number },
  random: number,
): number {
  if (failures < servers) return 0;
  if (notServingForMs !== null && notServingForMs < NOT_SERVING_FAST_RETRY_MS) return Math.min(o.backoffMinMs, 10 + Math.floor(random * 30));
  const round = Math.floor((failures - 1) / servers);
  return Math.min(o.backoffMaxMs, o.backoffMinMs * 2 ** Math.min(round, 10));
}

const toBytes = (d: ZnodeData): Uint8Array => (typeof d === 'string' ? new TextEncoder().encode(d) : d);

/** One op of a multi, as the client takes it (string data allowed, version optional: -1). */
export type MultiOpInput =
  | { op: 'create'; path: string; data?: ZnodeData; sequential?: boolean }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: ZnodeData; version?: number }
  | { op: 'check'; path: string; version: number };

function toMultiOp(o: MultiOpInput): MultiOp {
  switch (o.op) {
    case 'create':
      return { op: 'create', path: o.path, data: toBytes(o.data ?? ''), ...(o.sequential ? { sequential: true } : {}) };
    case 'delete':
      return { op: 'delete', path: o.path, version: o.version ?? -1 };
    case 'setData':
      return { op: 'setData', path: o.path, data: toBytes(o.data), version: o.version ?? -1 };
    case 'check':
      return { op: 'check', path: o.path, version: o.version };
  }
}

export type ZabClientErrorCode = ClientErrorCode | 'Timeout' | 'Closed' | 'Protocol';

export class ZabClientError extends Error {
  override readonly name = 'ZabClientError';
  constructor(
    readonly code: ZabClientErrorCode,
    message: string,
    /** for a failed write (BadVersion, NoNode, ...): the zxid of the txn that recorded the failed condition */
    readonly zxid?: string,
    /** the server that answered (or was being talked to) */
    readonly server?: string,
    /** a failed multi: each op's code (Ok before the failing op, RuntimeInconsistency after) */
    readonly results?: MultiOpError[],
  ) {
    super(message);
  }
}

export interface ZabClientOptions {
  /** `host:port,host:port` or a list */
  servers: string | readonly { host: string; port: number }[];
  /** a request not answered within this many ms fails with code Timeout (default 15000) */
  requestTimeoutMs?: number;
  /**
   * with requests in flight, a server that sends nothing for this many ms is taken for hung (frozen,
   * cut off) and left for another; requests that are safe to repeat go there (default 4000; 0: off)
   */
  silenceTimeoutMs?: number;
  /** give up on one connection attempt after this many ms (default 2000) */
  connectTimeoutMs?: number;
  /** backoff between rounds over all servers: from min doubling to max (defaults 50, 1000) */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** try servers in random order (default true), like ZooKeeper's client */
  shuffle?: boolean;
  /** re-send an unconditional setData (version -1) whose outcome is unknown after a failover (default true) */
  retrySetData?: boolean;
  maxFrameBytes?: number;
}

export interface ConnectionEvent {
  state: 'connecting' | 'connected' | 'disconnected';
  server: string;
  reason?: string;
}

export interface ResultEvent {
  id: number;
  op: ClientOp;
  ok: boolean;
  server: string | null;
  ms: number;
  result?: unknown;
  error?: { code: ZabClientErrorCode; message: string };
}

type Call = ClientCall;

interface Pending {
  id: number;
  call: Call;
  resolve(v: unknown): void;
  reject(e: ZabClientError): void;
  timer: ReturnType<typeof setTimeout>;
  /** the connection it was sent on, or null while queued */
  sentOn: Conn | null;
  startedAt: number;
}

interface Conn {
  socket: net.Socket;
  server: string;
  ready: boolean;
  /** no new requests: waiting for the in-flight ones, then moving to another server */
  draining: boolean;
  inFlight: number;
  lastHeard: number;
  /** when the server last had nothing in flight from us (silence counts from the later of this and lastHeard) */
  busySince: number;
  silenceCheck: ReturnType<typeof setInterval> | null;
  /** frames of this tick, written together (one syscall for a burst of requests) */
  out: Buffer[];
  outBytes: number;
}

function flushConn(c: Conn): void {
  const out = c.out;
  if (out.length === 0) return;
  c.out = [];
  const bytes = c.outBytes;
  c.outBytes = 0;
  if (c.socket.destroyed) return;
  writeBatch(c.socket, out, bytes);
}

export class ZabClient {
  private readonly servers: { host: string; port: number }[];
  private readonly o: Required<Omit<ZabClientOptions, 'servers'>>;
  private next = 0;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private conn: Conn | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  /** when servers began answering NotServing (ms, Date.now()); null again once a request succeeds */
  private notServingSince: number | null = null;
  private closed = false;
  private lastConnectError = '';
  private readonly connectionSubject = new Subject<ConnectionEvent>();
  private readonly resultSubject = new Subject<ResultEvent>();
  /** connection state changes */
  readonly connection$: Observable<ConnectionEvent> = this.connectionSubject.asObservable();
  /** every finished request, successful or not */
  readonly results$: Observable<ResultEvent> = this.resultSubject.asObservable();

  constructor(options: ZabClientOptions) {
    this.servers = typeof options.servers === 'string' ? parseHostPorts(options.servers) : [...options.servers];
    if (this.servers.length === 0) throw new Error('ZabClient: no servers given');
    this.o = {
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      silenceTimeoutMs: options.silenceTimeoutMs ?? 4000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      backoffMinMs: options.backoffMinMs ?? 50,
      backoffMaxMs: options.backoffMaxMs ?? 1000,
      shuffle: options.shuffle ?? true,
      retrySetData: options.retrySetData ?? true,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_CLIENT_MAX_FRAME_BYTES,
    };
    if (this.o.shuffle) {
      for (let i = this.servers.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [this.servers[i], this.servers[j]] = [this.servers[j]!, this.servers[i]!];
      }
    }
  }

  /** Creates a node (sequential: ZooKeeper appends a 10-digit counter from the parent); the result has the final path. */
  create(path: string, data: ZnodeData = '', options: { sequential?: boolean } = {}): Promise<CreateResult> {
    return this.request({ op: 'create', path, data: toBytes(data), ...(options.sequential ? { sequential: true } : {}) }) as Promise<CreateResult>;
  }

  /** Deletes a node without children if its version is `version` (-1: any version). */
  delete(path: string, version = -1): Promise<DeleteResult> {
    return this.request({ op: 'delete', path, version }) as Promise<DeleteResult>;
  }

  /** Sets a node's data if its version is `version` (-1: any version). */
  setData(path: string, data: ZnodeData, version = -1): Promise<SetDataResult> {
    return this.request({ op: 'setData', path, data: toBytes(data), version }) as Promise<SetDataResult>;
  }

  /** Applies every op or none (a failed multi rejects with the failing op's code and `results`). */
  multi(ops: readonly MultiOpInput[]): Promise<MultiResult> {
    return this.request({ op: 'multi', ops: ops.map(toMultiOp) }) as Promise<MultiResult>;
  }

  /** Served from the connected server's tree: sync() first to see every write committed before. Rejects NoNode. */
  getData(path: string): Promise<GetDataResult> {
    return this.request({ op: 'getData', path }) as Promise<GetDataResult>;
  }

  /** The node's stat, or stat null when it does not exist. */
  exists(path: string): Promise<ExistsResult> {
    return this.request({ op: 'exists', path }) as Promise<ExistsResult>;
  }

  /** The node's children (sorted names) and stat. Rejects NoNode. */
  getChildren(path: string): Promise<GetChildrenResult> {
    return this.request({ op: 'getChildren', path }) as Promise<GetChildrenResult>;
  }

  sync(): Promise<SyncResult> {
    return this.request({ op: 'sync' }) as Promise<SyncResult>;
  }

  status(): Promise<ServerStatus> {
    return this.request({ op: 'status' }) as Promise<ServerStatus>;
  }

  /** The connected server's status every intervalMs (failed polls are skipped). */
  watchStatus$(intervalMs = 1000): Observable<ServerStatus> {
    return timer(0, intervalMs).pipe(exhaustMap(() => from(this.status()).pipe(catchError(() => EMPTY))));
  }

  /** host:port of the server currently connected, if any. */
  currentServer(): string | null {
    return this.conn?.ready ? this.conn.server : null;
  }

  /** Fails every pending request with code Closed and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const p of [...this.pending.values()]) this.finish(p, new ZabClientError('Closed', 'client closed'));
    const c = this.conn;
    this.conn = null;
    if (c) {
      await new Promise<void>((resolve) => {
        if (c.socket.destroyed) resolve();
        else {
          c.socket.once('close', () => resolve());
          c.socket.destroy();
        }
      });
    }
    this.connectionSubject.complete();
    this.resultSubject.complete();
  }

  // ------------------------------------------------------------------ requests

  private request(call: Call): Promise<unknown> {
    if (this.closed) return Promise.reject(new ZabClientError('Closed', 'client closed'));
    const id = ++this.seq;
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = {
        id,
        call,
        resolve,
        reject,
        sentOn: null,
        startedAt: performance.now(),
        timer: setTimeout(() => this.onTimeout(p), this.o.requestTimeoutMs),
      };
      this.pending.set(id, p);
      const c = this.conn;
      if (c?.ready && !c.draining) this.send(c, p);
      else this.ensureConnecting();
    });
  }

  private send(c: Conn, p: Pending): void {
    let frame: Buffer;
    try {
      frame = encodeFrame(encodeMessage({ id: p.id, ...p.call }), { maxFrameSize: this.o.maxFrameBytes });
    } catch (err) {
      this.finish(p, new ZabClientError('BadRequest', `request cannot be sent: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    p.sentOn = c;
    if (c.inFlight++ === 0) c.busySince = performance.now();
    if (c.out.length === 0) process.nextTick(flushConn, c);
    c.out.push(frame);
    c.outBytes += frame.length;
  }

  private finish(p: Pending, outcome: ZabClientError | { result: unknown }, server: string | null = null): void {
    if (!this.pending.delete(p.id)) return;
    clearTimeout(p.timer);
    const ms = performance.now() - p.startedAt;
    if (outcome instanceof ZabClientError) {
      p.reject(outcome);
      if (!this.resultSubject.closed) {
        this.resultSubject.next({ id: p.id, op: p.call.op, ok: false, server, ms, error: { code: outcome.code, message: outcome.message } });
      }
    } else {
      p.resolve(outcome.result);
      if (!this.resultSubject.closed) this.resultSubject.next({ id: p.id, op: p.call.op, ok: true, server, ms, result: outcome.result });
    }
  }

  private onTimeout(p: Pending): void {
    const c = p.sentOn;
    const why = c ? '' : this.lastConnectError ? ` (never sent: ${this.lastConnectError})` : ' (never sent: no server connected)';
    this.finish(p, new ZabClientError('Timeout', `${p.call.op} not answered within ${this.o.requestTimeoutMs} ms${why}`, undefined, c?.server));
    // A server that answers nothing for a whole timeout is hung or cut off: try another.
    if (c && c === this.conn && performance.now() - c.lastHeard >= this.o.requestTimeoutMs) {
      this.drop(c, 'no answer within the request timeout');
    }
  }

  private retryable(p: Pending): boolean {
    const c = p.call;
    switch (c.op) {
      case 'getData':
      case 'exists':
      case 'getChildren':
      case 'sync':
      case 'status':
        return true;
      case 'setData':
        return this.o.retrySetData && (c.version ?? -1) === -1;
      default:
        return false;
    }
  }

  // ------------------------------------------------------------------ connection

  private ensureConnecting(): void {
    if (this.closed || this.conn || this.reconnectTimer) return;
    this.connect();
  }

  private connect(): void {
    const target = this.servers[this.next % this.servers.length]!;
    this.next++;
    const server = formatHostPort(target);
    const socket = net.connect({ host: target.host, port: target.port });
    const c: Conn = {
      socket,
      server,
      ready: false,
      draining: false,
      inFlight: 0,
      lastHeard: performance.now(),
      busySince: 0,
      silenceCheck: null,
      out: [],
      outBytes: 0,
    };
    this.conn = c;
    this.connectionSubject.next({ state: 'connecting', server });
    socket.setNoDelay(true);
    socket.setTimeout(this.o.connectTimeoutMs);
    const decoder = new FrameDecoder({ maxFrameSize: this.o.maxFrameBytes });
    socket.on('timeout', () => {
      if (!c.ready) socket.destroy(new Error(`connect timed out after ${this.o.connectTimeoutMs} ms`));
    });
    socket.on('connect', () => {
      socket.setTimeout(0);
      c.ready = true;
      this.lastConnectError = '';
      const silence = this.o.silenceTimeoutMs;
      if (silence > 0) {
        c.silenceCheck = setInterval(() => {
          const since = Math.max(c.lastHeard, c.busySince);
          if (c.inFlight > 0 && performance.now() - since >= silence) this.drop(c, `server silent for ${silence} ms with requests in flight`);
        }, Math.max(10, Math.floor(silence / 4)));
        c.silenceCheck.unref();
      }
      this.connectionSubject.next({ state: 'connected', server });
      const queued = [...this.pending.values()].filter((p) => p.sentOn === null).sort((a, b) => a.id - b.id);
      for (const p of queued) this.send(c, p);
    });
    socket.on('data', (chunk: Buffer) => {
      c.lastHeard = performance.now();
      const { frames, error } = decoder.push(chunk);
      for (const f of frames) {
        const resp = parseResponse(f);
        if (typeof resp === 'string') {
          this.drop(c, `bad response from server: ${resp}`);
          return;
        }
        this.onResponse(c, resp);
      }
      if (error) this.drop(c, `bad frame from server: ${error.message}`);
    });
    let lastError = '';
    socket.on('error', (err) => {
      lastError = err.message;
    });
    socket.on('close', () => {
      if (!c.ready) this.lastConnectError = `${server}: ${lastError || 'connection closed'}`;
      this.onClosed(c, lastError || 'connection closed by the server');
    });
  }

  private onResponse(c: Conn, resp: ClientResponse): void {
    c.inFlight = Math.max(0, c.inFlight - 1);
    const p = this.pending.get(resp.id);
    if (p && p.sentOn === c) {
      if (resp.ok) {
        this.failures = 0;
        this.notServingSince = null;
        this.finish(p, { result: resp.result }, c.server);
      } else {
        const code = resp.error.code as ClientErrorCode;
        if (code === 'NotServing') {
          p.sentOn = null; // never ordered: safe to send again elsewhere
          c.draining = true;
          this.notServingSince ??= Date.now();
        } else if (code === 'ConnectionLoss') {
          c.draining = true;
          if (this.retryable(p)) p.sentOn = null;
          else this.finish(p, new ZabClientError('ConnectionLoss', resp.error.message, undefined, c.server), c.server);
        } else {
          this.failures = 0;
          this.finish(p, new ZabClientError(code, resp.error.message, resp.error.zxid, c.server, resp.error.results), c.server);
        }
      }
    }
    if (c.draining && c.inFlight === 0) this.drop(c, 'server is not serving');
  }

  /** Closes a connection; what was in flight on it is handled in onClosed. */
  private drop(c: Conn, reason: string): void {
    if (c.socket.destroyed) {
      this.onClosed(c, reason);
      return;
    }
    c.socket.destroy(new Error(reason));
  }

  private onClosed(c: Conn, reason: string): void {
    if (c.silenceCheck) clearInterval(c.silenceCheck);
    c.silenceCheck = null;
    if (this.conn !== c) return;
    this.conn = null;
    if (c.ready) this.connectionSubject.next({ state: 'disconnected', server: c.server, reason });
    for (const p of [...this.pending.values()].sort((a, b) => a.id - b.id)) {
      if (p.sentOn !== c) continue;
      if (this.retryable(p)) p.sentOn = null;
      else {
        this.finish(
          p,
          new ZabClientError('ConnectionLoss', `connection to ${c.server} lost (${reason}) with ${p.call.op} in flight: it may or may not have been applied`, undefined, c.server),
          c.server,
        );
      }
    }
    if (this.closed) return;
    if (this.pending.size === 0) return; // reconnect lazily, on the next request
    this.failures++;
    const notServingForMs = this.notServingSince === null ? null : Date.now() - this.notServingSince;
    const delay = reconnectDelayMs(this.failures, this.servers.length, notServingForMs, this.o, Math.random());
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.ensureConnecting();
    }, delay);
  }
}
