/**
 * ZabServer: one server of an ensemble, from a ZabConfig and its id. It owns the data directories,
 * the disk stores, the peer transport (TCP), the replicated app (the KV register), the ZabNode that
 * runs the protocol, periodic snapshots and the client port.
 *
 * Observables: `role$` (role/phase/leader/epoch, replayed to new subscribers) and `committed$`
 * (every applied txn, decoded).
 */
import pino, { type Logger } from 'pino';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import { KvRegister, decodeResult, decodeTxn, encodeRequest, type KvRequest, type KvTxn } from '../app/kv-register.js';
import { buildQuorumSystem, loadZooCfg, readMyId, selfServer, type ServerSpec, type ZabConfig } from '../config/index.js';
import type { Timing } from '../../machines/types.js';
import { decodeEnvelope } from '../runtime/envelope.js';
import { RequestRejected, ZabNode } from '../runtime/node.js';
import type { Clock } from '../runtime/ports.js';
import { DiskEpochStore } from '../storage/disk-epoch-store.js';
import { DiskSnapshotStore } from '../storage/disk-snapshot-store.js';
import { DiskTxnLog } from '../storage/disk-txn-log.js';
import { TcpPeerTransport } from '../transport/index.js';
import { formatZxid, maxZxid, type Zxid } from '../zxid.js';
import { ClientOpError, ClientPort, type ClientRequestHandler } from './client-port.js';
import { formatHostPort, type ClientRequest, type GetResult, type ServerStatus, type SyncResult, type WriteResult } from './client-protocol.js';
import { prepareDataDir } from './data-dirs.js';
import { Snapshotter } from './snapshotter.js';

export interface RoleState {
  serverId: number;
  role: string;
  phase: string;
  leader: number | null;
  epoch: number;
}

export interface CommittedTxn {
  zxid: Zxid;
  txn: KvTxn;
}

export interface ZabServerOptions {
  config: ZabConfig;
  /** this server's id (the N of its server.N line) */
  id: number;
  /** default: pino JSON to stderr */
  logger?: Logger;
  /** overrides the client address from the config (port 0 picks a free port) */
  clientHost?: string;
  clientPort?: number;
}

/** A problem starting the server that the operator has to fix (message says what). */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The protocol's timing from the config (ZooKeeper's meanings for tickTime, initLimit, syncLimit). */
export function timingFromConfig(c: ZabConfig): Timing {
  return {
    tickTime: c.tickTime,
    initLimit: c.initLimit,
    syncLimit: c.syncLimit,
    finalizeWaitMs: c.finalizeWaitMs,
    notifyMinMs: Math.max(10, Math.min(c.finalizeWaitMs || 50, c.electionTimeoutMs)),
    notifyMaxMs: c.electionTimeoutMs,
    connectRetryMs: Math.min(1000, Math.max(20, Math.floor(c.tickTime / 10))),
  };
}

/** The client address a server spec and the config give: server line first, then clientPort(Address). */
export function clientAddressOf(config: ZabConfig, spec: ServerSpec): { host: string; port: number } | null {
  const port = spec.clientPort ?? config.clientPort;
  if (port === undefined) return null;
  return { host: spec.clientHost ?? config.clientPortAddress ?? '0.0.0.0', port };
}

function rejectedToClientError(err: unknown): unknown {
  if (err instanceof RequestRejected) {
    const notServing = err.message.startsWith('not serving') || err.message.includes('counter exhausted');
    return new ClientOpError(
      notServing ? 'NotServing' : 'ConnectionLoss',
      notServing
        ? `${err.message}; retry, here or on another server`
        : `${err.message}; the request may or may not have been committed (read it back to find out)`,
    );
  }
  return err;
}

export class ZabServer {
  readonly id: number;
  readonly config: ZabConfig;
  readonly logger: Logger;
  readonly app = new KvRegister();

  private readonly roleSubject: BehaviorSubject<RoleState>;
  private readonly committedSubject = new Subject<CommittedTxn>();
  readonly role$: Observable<RoleState>;
  readonly committed$: Observable<CommittedTxn>;

  private node: ZabNode | null = null;
  private log: DiskTxnLog | null = null;
  private transport: TcpPeerTransport | null = null;
  private clientPort: ClientPort | null = null;
  private snapshotter: Snapshotter | null = null;
  private started = false;
  private stopping: Promise<void> | null = null;
  private readonly startedAt = performance.now();
  private readonly self: ServerSpec;
  private readonly fatal = new Subject<unknown>();
  /** emits (once) if the protocol stops the server on its own: a statechart bug */
  readonly fatal$: Observable<unknown> = this.fatal.asObservable();

  constructor(private readonly o: ZabServerOptions) {
    this.id = o.id;
    this.config = o.config;
    this.self = selfServer(o.config, o.id);
    this.logger = o.logger ?? pino({ name: 'zab', base: { sid: o.id, pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
    this.roleSubject = new BehaviorSubject<RoleState>({ serverId: o.id, role: 'looking', phase: 'starting', leader: null, epoch: 0 });
    this.role$ = this.roleSubject.asObservable();
    this.committed$ = this.committedSubject.asObservable();
  }

  /** Opens storage, binds the peer and client ports, and joins the ensemble. */
  async start(): Promise<void> {
    if (this.started) throw new Error('ZabServer.start() called twice');
    this.started = true;
    const { config, logger } = this;
    const quorum = buildQuorumSystem(config);
    const dataDir = await prepareDataDir(config.dataDir, 'dataDir');
    const dataLogDir = await prepareDataDir(config.dataLogDir, 'dataLogDir');
    const fsync = config.forceSync;
    const clusterId = config.clusterId;

    const log = await DiskTxnLog.open(dataLogDir, { clusterId, segmentBytes: config.logSegmentBytes, fsync, logger });
    this.log = log;
    const snapshots = await DiskSnapshotStore.open(dataDir, { clusterId, retain: config.snapRetainCount, fsync, logger });
    const epochs = await DiskEpochStore.open(dataDir, { fsync, logger });
    // ZOOKEEPER-2354: a crash after logging txns of a new epoch but before writing currentEpoch.
    const newestSnap = (await snapshots.list()).at(-1)?.zxid ?? 0n;
    const reconciled = await epochs.reconcileWithLog(maxZxid(log.lastZxid(), newestSnap));
    if (reconciled.repaired) logger.warn({ ...reconciled }, 'epochs repaired from the log');

    const transport = new TcpPeerTransport({
      self: this.id,
      servers: config.servers,
      clusterId,
      maxFrameBytes: config.maxFrameBytes,
      logger,
    });
    this.transport = transport;

    const app = this.app;
    const snapshotter = new Snapshotter({
      app,
      snapshots,
      log,
      snapCount: config.snapCount,
      logger: logger.child({ component: 'snapshotter' }),
      onPurged: (zxid) => this.node?.notePurged(zxid),
    });
    this.snapshotter = snapshotter;

    const node = new ZabNode({
      sid: this.id,
      quorum,
      timing: timingFromConfig(config),
      transport,
      log,
      snapshots,
      epochs,
      app,
      clock: realClock,
      logger,
      incarnation: Date.now(),
      maxBatch: config.syncBatchMaxTxns,
      // Requests arriving in one event-loop turn (all clients' frames read in it) become one batch.
      schedule: (fn) => void setImmediate(fn),
      onFatal: (err) => this.fatal.next(err),
      observer: {
        role: (sid, role, phase, leader, epoch) => this.roleSubject.next({ serverId: sid, role, phase, leader, epoch }),
        delivered: (_sid, txn) => {
          snapshotter.onApplied(txn.zxid);
          if (this.committedSubject.observed) {
            this.committedSubject.next({ zxid: txn.zxid, txn: decodeTxn(decodeEnvelope(txn.data).op) });
          }
        },
      },
    });
    this.node = node;

    await transport.start();
    await node.start();

    const addr = this.clientAddress();
    if (addr) {
      const port = new ClientPort({
        host: addr.host,
        port: addr.port,
        handler: this.handler(),
        logger: logger.child({ component: 'client-port' }),
        maxFrameBytes: config.maxFrameBytes,
      });
      this.clientPort = port;
      const bound = await port.start();
      logger.info({ client: formatHostPort(bound) }, 'serving clients');
    } else {
      logger.warn('no client port configured (clientPort= or ;port on the server line): this server takes no clients');
    }
    logger.info(
      { dataDir, dataLogDir, quorumPort: this.self.quorumPort, electionPort: this.self.electionPort, servers: config.servers.length },
      'server started',
    );
  }

  /** The configured client address (or the bound one once started). */
  clientAddress(): { host: string; port: number } | null {
    const bound = this.clientPort?.address();
    if (bound) return bound;
    if (this.o.clientPort !== undefined) return { host: this.o.clientHost ?? this.self.clientHost ?? '127.0.0.1', port: this.o.clientPort };
    return clientAddressOf(this.config, this.self);
  }

  /** Submits a KV write; resolves once committed and applied here. */
  async write(req: KvRequest): Promise<WriteResult> {
    const node = this.requireNode();
    let committed;
    try {
      committed = await node.submit(encodeRequest(req));
    } catch (err) {
      throw rejectedToClientError(err);
    }
    const result = decodeResult(committed.result);
    const zxid = formatZxid(committed.zxid);
    if (!result.ok) throw new ClientOpError(result.code, `${req.op} ${req.key}: ${result.code}`, zxid);
    return { zxid, version: result.version };
  }

  async sync(): Promise<SyncResult> {
    const node = this.requireNode();
    try {
      return { zxid: formatZxid(await node.sync()) };
    } catch (err) {
      throw rejectedToClientError(err);
    }
  }

  /** A local read; refused (NotServing) unless this server is in broadcast phase. */
  get(key: string): GetResult {
    const role = this.roleSubject.value;
    if (role.phase !== 'broadcast') {
      throw new ClientOpError('NotServing', `server ${this.id} is not serving (${role.role}, ${role.phase}); retry, here or on another server`);
    }
    const e = this.app.get(key);
    return { key, value: e?.value ?? null, version: e?.version ?? 0, zxid: formatZxid(this.app.lastApplied()) };
  }

  status(): ServerStatus {
    const node = this.node;
    const ns = node?.getStatus();
    const role = this.roleSubject.value;
    const ctx = node ? roleContext(node) : null;
    const lastApplied = this.app.lastApplied();
    const committed = typeof ctx?.committed === 'bigint' ? maxZxid(ctx.committed, lastApplied) : lastApplied;
    const status: ServerStatus = {
      serverId: this.id,
      role: role.role,
      phase: role.phase,
      leader: role.leader,
      epoch: role.epoch,
      lastZxid: ns?.lastLogged ?? '0x0',
      lastCommitted: formatZxid(committed),
      lastApplied: formatZxid(lastApplied),
      clientAddress: (() => {
        const a = this.clientAddress();
        return a ? formatHostPort(a) : '';
      })(),
      connections: this.clientPort?.connectionCount() ?? 0,
      pid: process.pid,
      uptimeMs: Math.round(performance.now() - this.startedAt),
    };
    if (role.role === 'leading' && ctx?.learners && typeof ctx.learners === 'object') {
      status.learners = Object.entries(ctx.learners as Record<string, { phase?: unknown; lastZxid?: unknown }>).map(([id, l]) => ({
        id: Number(id),
        phase: String(l.phase ?? '?'),
        lastZxid: typeof l.lastZxid === 'bigint' ? formatZxid(l.lastZxid) : '?',
      }));
    }
    return status;
  }

  /** Snapshots written since start (for tests). */
  snapshotsTaken(): number {
    return this.snapshotter?.taken ?? 0;
  }

  /** Closes the client port, stops the protocol and the transport, waits for a snapshot write, closes the log. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.clientPort?.stop().catch((err: unknown) => this.logger.warn({ err }, 'closing client port failed'));
      this.node?.stop();
      await this.transport?.shutdown().catch((err: unknown) => this.logger.warn({ err }, 'closing peer transport failed'));
      await this.snapshotter?.stop();
      await this.log?.close().catch((err: unknown) => this.logger.warn({ err }, 'closing txn log failed'));
      this.roleSubject.complete();
      this.committedSubject.complete();
      this.fatal.complete();
      this.logger.info('server stopped');
    })();
    return this.stopping;
  }

  private requireNode(): ZabNode {
    if (!this.node || this.stopping) throw new ClientOpError('NotServing', `server ${this.id} is not running`);
    return this.node;
  }

  private handler(): ClientRequestHandler {
    return {
      start: (req: ClientRequest) => {
        switch (req.op) {
          case 'put':
            return this.write({ op: 'put', key: req.key, value: req.value });
          case 'cas':
            return this.write({ op: 'cas', key: req.key, expectedVersion: req.expectedVersion, value: req.value });
          case 'delete':
            return this.write(
              req.expectedVersion === undefined
                ? { op: 'delete', key: req.key }
                : { op: 'delete', key: req.key, expectedVersion: req.expectedVersion },
            );
          case 'sync':
            return this.sync();
          default:
            return Promise.reject(new ClientOpError('BadRequest', `${req.op} is not a write`));
        }
      },
      read: (req: ClientRequest) => {
        if (req.op === 'get') return this.get(req.key);
        if (req.op === 'status') return this.status();
        throw new ClientOpError('BadRequest', `${req.op} is not a read`);
      },
    };
  }
}

/** The context of the statechart's current role actor (leader or follower), if any. */
function roleContext(node: ZabNode): Record<string, unknown> | null {
  const snap = node.snapshot() as { children?: Record<string, { getSnapshot?: () => { context?: unknown } } | undefined> } | null;
  const child = snap?.children?.role;
  const ctx = child?.getSnapshot?.().context;
  return ctx && typeof ctx === 'object' ? (ctx as Record<string, unknown>) : null;
}

export interface StartServerOptions {
  /** a parsed config, or the path of a zoo.cfg */
  config: ZabConfig | string;
  /** server id; default: the myid file in dataDir */
  id?: number;
  logger?: Logger;
  clientHost?: string;
  clientPort?: number;
}

/** Embedded API: loads the config if given a path, reads myid if no id, starts a server. */
export async function startServer(options: StartServerOptions): Promise<ZabServer> {
  const config = typeof options.config === 'string' ? await loadZooCfg(options.config) : options.config;
  const id = options.id ?? (await readMyId(config.dataDir));
  const server = new ZabServer({
    config,
    id,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clientHost !== undefined ? { clientHost: options.clientHost } : {}),
    ...(options.clientPort !== undefined ? { clientPort: options.clientPort } : {}),
  });
  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
  return server;
}
