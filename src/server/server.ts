/**
 * ZabServer: one server of an ensemble, from a ZabConfig and its id. It owns the data directories,
 * the disk stores, the peer transport (TCP), the replicated app (ZooKeeper's data tree by default), the ZabNode that
 * runs the protocol, periodic snapshots and the client port.
 *
 * Observables: `role$` (role/phase/leader/epoch, replayed to new subscribers) and `committed$`
 * (every applied txn, decoded).
 */
import pino, { type Logger } from 'pino';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import {
  DataTree,
  DataTreeError,
  decodeTreeResult,
  decodeTreeTxn,
  encodeTreeRequest,
  type DataTreeOp,
  type DataTreeOpResult,
  type DataTreeRequest,
  type DataTreeTxn,
} from '../app/data-tree.js';
import type { ReplicatedStateMachine } from '../app/state-machine.js';
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
import {
  formatHostPort,
  toZnodeStat,
  type ClientRequest,
  type CreateResult,
  type DeleteResult,
  type ExistsResult,
  type GetChildrenResult,
  type GetDataResult,
  type MultiOp,
  type MultiOpResult,
  type MultiResult,
  type ServerStatus,
  type SetDataResult,
  type SyncResult,
} from './client-protocol.js';
import { prepareDataDir } from './data-dirs.js';
import { Snapshotter } from './snapshotter.js';
import { AdminServer, type EnsembleMember } from '../admin/admin-server.js';
import { InspectionHub } from '../admin/inspection-hub.js';
import { countingTransport, ServerMetrics } from '../admin/metrics.js';
import { statelyForwarder, type StatelyForwarder } from '../admin/stately.js';

export interface RoleState {
  serverId: number;
  role: string;
  phase: string;
  leader: number | null;
  epoch: number;
}

export interface CommittedTxn {
  zxid: Zxid;
  /** decoded when the app is a DataTree; the raw txn bytes otherwise */
  txn: DataTreeTxn | Uint8Array;
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
  /** the replicated application (default: a new DataTree); the client protocol's data-tree requests need a DataTree */
  app?: ReplicatedStateMachine;
  /** overrides adminPort.N from the config (0 picks a free port); null turns the admin port off */
  adminPort?: number | null;
  /** also send XState inspection events to a Stately inspector listening at this ws:// URL */
  statelyInspector?: string;
}

/** A problem starting the server that the operator has to fix (message says what). */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

/** CPU per slice of a sync's long jobs before the event loop gets a turn (ZabNode sliceMs). */
const SYNC_SLICE_MS = 10;

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
    // The leader pings every tickTime/2: leaderTimeoutTicks (2) ticks of silence is 4 missed pings.
    leaderTimeoutMs: Math.min(c.leaderTimeoutTicks, c.syncLimit) * c.tickTime,
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
  readonly app: ReplicatedStateMachine;

  private readonly roleSubject: BehaviorSubject<RoleState>;
  private readonly committedSubject = new Subject<CommittedTxn>();
  readonly role$: Observable<RoleState>;
  readonly committed$: Observable<CommittedTxn>;

  private node: ZabNode | null = null;
  private log: DiskTxnLog | null = null;
  private transport: TcpPeerTransport | null = null;
  private clientPort: ClientPort | null = null;
  private snapshotter: Snapshotter | null = null;
  private admin: AdminServer | null = null;
  private stately: StatelyForwarder | null = null;
  /** XState inspection of this server's actors (what the inspector page shows), when the admin port is on */
  hub: InspectionHub | null = null;
  /** Prometheus metrics of this server (also served on the admin port's /metrics) */
  readonly metrics: ServerMetrics;
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
    if (this.self.role === 'observer') {
      // The quorum rules count observers out, but they cannot yet find and follow a leader.
      throw new ServerStartError(
        `server.${o.id} is configured as an observer, which this version does not support yet: make it a participant (drop ':observer'), or give it weight 0 (weight.${o.id}=0) to keep its vote from counting`,
      );
    }
    if (o.statelyInspector !== undefined && !/^wss?:\/\/\S+$/.test(o.statelyInspector)) {
      throw new ServerStartError(`Stately inspector URL must start with ws:// or wss://, got '${o.statelyInspector}'`);
    }
    this.app = o.app ?? new DataTree();
    this.logger = o.logger ?? pino({ name: 'zab', base: { sid: o.id, pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
    this.roleSubject = new BehaviorSubject<RoleState>({ serverId: o.id, role: 'looking', phase: 'starting', leader: null, epoch: 0 });
    this.role$ = this.roleSubject.asObservable();
    this.committed$ = this.committedSubject.asObservable();
    this.metrics = new ServerMetrics(() => (this.node ? { status: () => this.status(), queues: () => this.queues() } : null), { serverId: o.id });
  }

  /** The admin port this server is configured with (option first, then adminPort.N), or null. */
  private adminPortSetting(): number | null {
    if (this.o.adminPort !== undefined) return this.o.adminPort;
    return this.self.adminPort ?? null;
  }

  /** Opens storage, binds the peer and client ports, and joins the ensemble. */
  async start(): Promise<void> {
    if (this.started) throw new Error('ZabServer.start() called twice');
    this.started = true;
    const { config, logger } = this;
    const t0 = performance.now();
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
    const tOpened = performance.now();

    const adminPort = this.adminPortSetting();
    // The admin port's hub follows the actors once they run (below); a Stately inspector gets every event.
    if (adminPort !== null) this.hub = new InspectionHub();
    if (this.o.statelyInspector) this.stately = await statelyForwarder(this.o.statelyInspector, logger);
    const metrics = this.metrics;
    log.onSync = (seconds) => metrics.fsync(seconds);

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
      transport: countingTransport(transport, metrics),
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
      // A sync's long jobs (a learner's snapshot, restoring one, a big backlog) in slices, so that the
      // leader and the learner keep hearing each other within initLimit/syncLimit.
      sliceMs: SYNC_SLICE_MS,
      onFatal: (err) => this.fatal.next(err),
      ...(this.stately ? { inspect: this.stately.inspect } : {}),
      observer: {
        role: (sid, role, phase, leader, epoch) => {
          metrics.role(role, performance.now());
          this.roleSubject.next({ serverId: sid, role, phase, leader, epoch });
        },
        proposed: () => metrics.proposed(1),
        delivered: (_sid, txn) => {
          metrics.applied(1);
          snapshotter.onApplied(txn.zxid);
          if (this.committedSubject.observed) {
            const op = decodeEnvelope(txn.data).op;
            this.committedSubject.next({ zxid: txn.zxid, txn: app instanceof DataTree ? decodeTreeTxn(op) : op });
          }
        },
      },
    });
    this.node = node;

    await transport.start();
    const tRecovery = performance.now();
    await node.start();
    const tRecovered = performance.now();
    const system = node.actorSystem();
    if (this.hub && system) this.hub.attach(system);

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
    if (adminPort !== null) {
      const host = this.self.host;
      const admin = new AdminServer({
        host,
        port: adminPort,
        members: () => this.ensembleMembers(),
        source: { serverId: this.id, status: () => this.status(), hub: this.hub!, metrics },
        logger: logger.child({ component: 'admin' }),
        title: `zab inspector (server ${this.id})`,
      });
      this.admin = admin;
      const bound = await admin.start();
      logger.info({ admin: `http://${formatHostPort({ host, port: bound.port })}/` }, 'admin port: inspector page, /status, /metrics');
    }
    logger.info(
      {
        dataDir,
        dataLogDir,
        quorumPort: this.self.quorumPort,
        electionPort: this.self.electionPort,
        servers: config.servers.length,
        // opening the stores (log headers and tail, snapshot list), then recovery (snapshot and log read into memory)
        startMs: { openStorage: Math.round(tOpened - t0), recovery: Math.round(tRecovered - tRecovery), total: Math.round(performance.now() - t0) },
      },
      'server started',
    );
  }

  /** Every server of the config with its admin URL (this one's as bound), for the inspector page. */
  private ensembleMembers(): EnsembleMember[] {
    return this.config.servers.map((s) => {
      const port = s.id === this.id ? this.admin?.address()?.port : s.adminPort;
      const client = clientAddressOf(this.config, s);
      return {
        id: s.id,
        admin: port !== undefined ? `http://${formatHostPort({ host: s.host, port })}` : null,
        client: client ? formatHostPort(client) : null,
      };
    });
  }

  /** The admin port's bound address, once started with one. */
  adminAddress(): { host: string; port: number } | null {
    const a = this.admin?.address();
    return a ? { host: a.address, port: a.port } : null;
  }

  /** Queue depths for the metrics. */
  private queues(): Record<string, number> {
    const q: Record<string, number> = { ...(this.node?.queueDepths() ?? {}) };
    let bytes = 0;
    for (const c of this.transport?.stats().connections ?? []) bytes += c.queuedBytes;
    q.peer_send_bytes = bytes;
    return q;
  }

  /** The configured client address (or the bound one once started). */
  clientAddress(): { host: string; port: number } | null {
    const bound = this.clientPort?.address();
    if (bound) return bound;
    if (this.o.clientPort !== undefined) return { host: this.o.clientHost ?? this.self.clientHost ?? '127.0.0.1', port: this.o.clientPort };
    return clientAddressOf(this.config, this.self);
  }

  /**
   * Submits one request of your own application (any `app` passed to the server) as bytes; resolves
   * with its zxid and the result bytes your `apply()` returned, once committed and applied here.
   */
  async submit(request: Uint8Array): Promise<{ zxid: string; result: Uint8Array }> {
    const node = this.requireNode();
    try {
      const c = await node.submit(request);
      return { zxid: formatZxid(c.zxid), result: c.result };
    } catch (err) {
      throw rejectedToClientError(err);
    }
  }

  /** Submits a data-tree write (create, delete, setData, multi); resolves once committed and applied here. */
  async write(req: DataTreeRequest): Promise<CreateResult | DeleteResult | SetDataResult | MultiResult> {
    this.tree();
    const node = this.requireNode();
    let committed;
    try {
      committed = await node.submit(encodeTreeRequest(req));
    } catch (err) {
      throw rejectedToClientError(err);
    }
    const result = decodeTreeResult(committed.result);
    const zxid = formatZxid(committed.zxid);
    if (!result.ok) {
      const code = result.code === 'RuntimeInconsistency' ? 'Internal' : result.code;
      const what = req.op === 'multi' ? `multi (op on ${result.path})` : `${req.op} ${result.path}`;
      throw new ClientOpError(code, `${what}: ${result.code}`, zxid, result.results?.map((r) => ({ ...r })));
    }
    if (result.op === 'multi') return { zxid, results: result.results.map(wireOpResult) };
    const { op: _op, ...rest } = wireOpResult(result);
    return { zxid, ...rest } as CreateResult | DeleteResult | SetDataResult;
  }

  async sync(): Promise<SyncResult> {
    const node = this.requireNode();
    try {
      return { zxid: formatZxid(await node.sync()) };
    } catch (err) {
      throw rejectedToClientError(err);
    }
  }

  /** Local reads; refused (NotServing) unless this server is in broadcast phase. */
  getData(path: string): GetDataResult {
    const tree = this.readableTree();
    const r = readPath(() => tree.getData(path));
    if (!r) throw new ClientOpError('NoNode', `getData ${path}: NoNode`);
    return { path, data: r.data, stat: toZnodeStat(r.stat), zxid: formatZxid(tree.lastApplied()) };
  }

  exists(path: string): ExistsResult {
    const tree = this.readableTree();
    const stat = readPath(() => tree.exists(path));
    return { path, stat: stat ? toZnodeStat(stat) : null, zxid: formatZxid(tree.lastApplied()) };
  }

  getChildren(path: string): GetChildrenResult {
    const tree = this.readableTree();
    const r = readPath(() => tree.getChildren(path));
    if (!r) throw new ClientOpError('NoNode', `getChildren ${path}: NoNode`);
    return { path, children: r.children, stat: toZnodeStat(r.stat), zxid: formatZxid(tree.lastApplied()) };
  }

  private tree(): DataTree {
    if (!(this.app instanceof DataTree)) throw new ClientOpError('BadRequest', `server ${this.id} does not run a data tree`);
    return this.app;
  }

  private readableTree(): DataTree {
    const role = this.roleSubject.value;
    if (role.phase !== 'broadcast') {
      throw new ClientOpError('NotServing', `server ${this.id} is not serving (${role.role}, ${role.phase}); retry, here or on another server`);
    }
    if (this.node?.catchingUp()) {
      throw new ClientOpError('NotServing', `server ${this.id} is still applying what it synced from the leader; retry, here or on another server`);
    }
    return this.tree();
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
      ...(this.app instanceof DataTree ? { znodes: this.app.size() } : {}),
      memory: (({ rss, heapUsed, heapTotal, external, arrayBuffers }) => ({ rss, heapUsed, heapTotal, external, arrayBuffers }))(process.memoryUsage()),
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
      await this.admin?.stop().catch((err: unknown) => this.logger.warn({ err }, 'closing admin port failed'));
      this.stately?.stop();
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
          case 'create':
          case 'delete':
          case 'setData':
            return this.write(toTreeOp(req));
          case 'multi':
            return this.write({ op: 'multi', ops: req.ops.map(toTreeOp) });
          case 'sync':
            return this.sync();
          default:
            return Promise.reject(new ClientOpError('BadRequest', `${req.op} is not a write`));
        }
      },
      read: (req: ClientRequest) => {
        switch (req.op) {
          case 'getData':
            return this.getData(req.path);
          case 'exists':
            return this.exists(req.path);
          case 'getChildren':
            return this.getChildren(req.path);
          case 'status':
            return this.status();
          default:
            throw new ClientOpError('BadRequest', `${req.op} is not a read`);
        }
      },
    };
  }
}

/** A client-protocol op as the data tree takes it (an omitted version is -1: any). */
function toTreeOp(op: MultiOp): DataTreeOp {
  switch (op.op) {
    case 'create':
      return { op: 'create', path: op.path, data: op.data, ...(op.sequential ? { sequential: true } : {}) };
    case 'delete':
      return { op: 'delete', path: op.path, version: op.version ?? -1 };
    case 'setData':
      return { op: 'setData', path: op.path, data: op.data, version: op.version ?? -1 };
    case 'check':
      return { op: 'check', path: op.path, version: op.version };
  }
}

function wireOpResult(r: DataTreeOpResult): MultiOpResult {
  switch (r.op) {
    case 'create':
      return { op: 'create', path: r.path, stat: toZnodeStat(r.stat) };
    case 'setData':
      return { op: 'setData', path: r.path, stat: toZnodeStat(r.stat) };
    case 'delete':
      return { op: 'delete', path: r.path };
    case 'check':
      return { op: 'check', path: r.path };
  }
}

/** Runs a tree read, turning a bad path into a BadArguments answer. */
function readPath<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataTreeError) throw new ClientOpError(err.code, err.message);
    throw err;
  }
}

/** The context of the statechart's current role actor (leader or follower), if any. */
function roleContext(node: ZabNode): Record<string, unknown> | null {
  const snap = node.snapshot() as { children?: Record<string, { getSnapshot?: () => { context?: unknown } } | undefined> } | null;
  const child = snap?.children?.role;
  const ctx = child?.getSnapshot?.().context;
  return ctx && typeof ctx === 'object' ? (ctx as Record<string, unknown>) : null;
}

/** ZabServerOptions, except that the config may be a zoo.cfg path and the id may come from myid. */
export type StartServerOptions = Omit<ZabServerOptions, 'config' | 'id'> & {
  /** a parsed config, or the path of a zoo.cfg */
  config: ZabConfig | string;
  /** server id; default: the myid file in dataDir */
  id?: number;
};

/** Embedded API: loads the config if given a path, reads myid if no id, starts a server. */
export async function startServer(options: StartServerOptions): Promise<ZabServer> {
  const config = typeof options.config === 'string' ? await loadZooCfg(options.config) : options.config;
  const id = options.id ?? (await readMyId(config.dataDir));
  const server = new ZabServer({ ...options, config, id });
  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
  return server;
}
