/**
 * PeerTransport over TCP: the election channel (pairwise between voters) and the quorum channel
 * (learner -> leader), each on its own listening port from this server's ServerSpec. Connection
 * state and inbound traffic are published as RxJS Observables for inspection.
 *
 *   const t = new TcpPeerTransport({ self: 1, servers, clusterId, logger });
 *   await t.start();            // binds electionPort and quorumPort
 *   node = new ZabNode({ transport: t, ... });   // attaches itself
 *   ...
 *   await t.shutdown();
 */
import type { Logger } from 'pino';
import { Subject, type Observable } from 'rxjs';
import { ABSOLUTE_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE } from '../codec/frame.js';
import type { ServerSpec } from '../config/types.js';
import type { Notification, PeerMessage, QuorumMessage, ServerId } from '../protocol/messages.js';
import type { PeerTransport, TransportHandler } from '../runtime/ports.js';
import { DEFAULT_RECONNECT, Backoff } from './backoff.js';
import type { ChannelContext } from './context.js';
import { ElectionChannel } from './election-channel.js';
import { MAX_CLUSTER_ID_BYTES } from './handshake.js';
import { Listener } from './listener.js';
import { QuorumChannel } from './quorum-channel.js';
import type { Channel, ConnectionEvent, InboundMessage, TcpPeerTransportOptions, TransportStats } from './types.js';

export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
export const DEFAULT_ELECTION_QUEUE_LENGTH = 32;
export const DEFAULT_MAX_PENDING_HANDSHAKES = 128;

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class TcpPeerTransport implements PeerTransport {
  readonly self: ServerId;
  private readonly spec: ServerSpec;
  private readonly logger: Logger;
  private readonly connectionsSubject = new Subject<ConnectionEvent>();
  private readonly inboundSubject = new Subject<InboundMessage>();
  private readonly counters: TransportStats['counters'] = {
    refused: 0,
    protocolErrors: 0,
    slowPeers: 0,
    electionDropped: 0,
    quorumDropped: 0,
  };
  private handler: TransportHandler | null = null;
  private readonly election: ElectionChannel;
  private readonly quorum: QuorumChannel;
  private readonly listeners: Listener[];
  private state: 'new' | 'starting' | 'running' | 'down' = 'new';
  private closing: Promise<void> | null = null;

  /** Every connection attempt, opening and closing, on both channels. Hot; completes at shutdown. */
  readonly connections$: Observable<ConnectionEvent> = this.connectionsSubject.asObservable();
  /** Every peer message delivered to the handler, in delivery order. Hot; completes at shutdown. */
  readonly inbound$: Observable<InboundMessage> = this.inboundSubject.asObservable();

  constructor(opts: TcpPeerTransportOptions) {
    const servers = new Map<ServerId, ServerSpec>();
    for (const s of opts.servers) {
      if (servers.has(s.id)) throw new RangeError(`server id ${s.id} appears twice in the server list`);
      servers.set(s.id, s);
    }
    const spec = servers.get(opts.self);
    if (!spec) throw new RangeError(`server ${opts.self} (self) is not in the server list`);
    if (Buffer.byteLength(opts.clusterId, 'utf8') > MAX_CLUSTER_ID_BYTES) {
      throw new RangeError(`clusterId must be at most ${MAX_CLUSTER_ID_BYTES} bytes`);
    }
    const maxFrameBytes = positiveInt('maxFrameBytes', opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_SIZE);
    if (maxFrameBytes > ABSOLUTE_MAX_FRAME_SIZE) throw new RangeError(`maxFrameBytes must be at most ${ABSOLUTE_MAX_FRAME_SIZE}`);
    const maxQueueBytes = positiveInt('maxQueueBytes', opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES);
    const handshakeTimeoutMs = positiveInt('handshakeTimeoutMs', opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    const reconnect = opts.reconnect ?? DEFAULT_RECONNECT;
    new Backoff(reconnect); // validates
    this.self = opts.self;
    this.spec = spec;
    this.logger = opts.logger.child({ component: 'transport', self: opts.self });

    const inbound = this.inboundSubject;
    const ctx: ChannelContext = {
      self: opts.self,
      clusterId: opts.clusterId,
      servers,
      maxFrameBytes,
      maxQueueBytes,
      handshakeTimeoutMs,
      logger: this.logger,
      handler: () => this.handler,
      connectionEvent: (ev) => this.connectionsSubject.next(ev),
      inbound: (from: ServerId, channel: Channel, msg: PeerMessage) => {
        if (inbound.observed) inbound.next({ from, channel, msg });
      },
      counters: this.counters,
    };
    this.election = new ElectionChannel(
      ctx,
      reconnect,
      positiveInt('electionQueueLength', opts.electionQueueLength ?? DEFAULT_ELECTION_QUEUE_LENGTH),
    );
    this.quorum = new QuorumChannel(ctx);
    const maxPendingHandshakes = positiveInt('maxPendingHandshakes', opts.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES);
    const listener = (channel: Channel, port: number): Listener =>
      new Listener({
        channel,
        host: spec.host,
        port,
        self: opts.self,
        clusterId: opts.clusterId,
        servers,
        handshakeTimeoutMs,
        maxPendingHandshakes,
        logger: this.logger,
        onHello: (socket, hello, leftover) =>
          channel === 'election' ? this.election.accept(socket, hello, leftover) : this.quorum.accept(socket, hello, leftover),
        onRefused: () => this.counters.refused++,
      });
    this.listeners = [listener('election', spec.electionPort), listener('quorum', spec.quorumPort)];
  }

  /**
   * Binds this server's election and quorum ports. Rejects (and leaves nothing bound) with an
   * Error naming host:port and what to do when a port cannot be bound.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport of server ${this.self} was already started`);
    this.state = 'starting';
    try {
      for (const l of this.listeners) await l.listen();
    } catch (e) {
      await Promise.all(this.listeners.map((l) => l.close()));
      this.state = 'down';
      this.closeSubjects();
      throw e;
    }
    if ((this.state as string) === 'down') return; // shut down while binding
    this.state = 'running';
    this.logger.info(
      { host: this.spec.host, electionPort: this.spec.electionPort, quorumPort: this.spec.quorumPort },
      'peer transport listening',
    );
  }

  attach(handler: TransportHandler): void {
    this.handler = handler;
  }

  sendElection(to: ServerId, msg: Notification): void {
    if (this.state === 'down') return;
    this.election.send(to, msg);
  }

  connectToLeader(leader: ServerId): void {
    if (this.state === 'down') return;
    this.quorum.connectToLeader(leader);
  }

  send(to: ServerId, msg: QuorumMessage): void {
    this.quorum.send(to, msg);
  }

  broadcast(to: readonly ServerId[], msg: QuorumMessage): void {
    this.quorum.broadcast(to, msg);
  }

  whenWritable(to: ServerId, lowWaterBytes: number): Promise<boolean> {
    return this.quorum.whenWritable(to, lowWaterBytes);
  }

  close(sid: ServerId, reason: string): void {
    this.quorum.close(sid, reason);
  }

  closeAll(reason: string): void {
    this.quorum.closeAll(reason);
  }

  /**
   * Stops everything: no handler call happens after it. The returned promise (which callers of
   * PeerTransport may ignore) resolves once both ports are free.
   */
  shutdown(): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'down';
    this.handler = null;
    this.election.shutdown();
    this.quorum.shutdown();
    this.closeSubjects();
    this.closing = Promise.all(this.listeners.map((l) => l.close())).then(() => {
      this.logger.info('peer transport stopped');
    });
    return this.closing;
  }

  /** A snapshot of connections, queues and counters. */
  stats(): TransportStats {
    const e = this.election.stats();
    return {
      connections: [...e.connections, ...this.quorum.stats()],
      electionQueued: e.queued,
      pendingLeader: this.quorum.pendingLeader,
      counters: { ...this.counters },
    };
  }

  /** The bound addresses (after start). */
  addresses(): { election: { address: string; port: number } | null; quorum: { address: string; port: number } | null } {
    const [e, q] = this.listeners.map((l) => l.address());
    return { election: e ? { address: e.address, port: e.port } : null, quorum: q ? { address: q.address, port: q.port } : null };
  }

  private closeSubjects(): void {
    this.connectionsSubject.complete();
    this.inboundSubject.complete();
  }
}
