/**
 * Simulated network with TCP-like connections between server ids. Each connection carries two
 * FIFO directions with a random latency per message (never overtaking an earlier message). A cut
 * (fault, partition, crash, or one end closing) drops everything in flight at once and both live
 * ends learn of it after a delay; nothing is ever delivered on a closed connection, and nothing
 * reconnects by itself. Every callback is a scheduler event, so runs replay from the seed.
 */
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';

export type NodeId = number;
export type ConnId = number;

/** Callbacks of one node incarnation. All optional but onMessage. */
export interface NodeHandlers<M> {
  /** Our connect() succeeded: we may send (sends made before this are delivered after it). */
  onConnected?(conn: ConnId, peer: NodeId): void;
  /** Our connect() failed (peer down, partitioned, or the attempt was cut); the id is dead. */
  onRefused?(conn: ConnId, peer: NodeId): void;
  /** A peer connected to us. */
  onAccepted?(conn: ConnId, peer: NodeId): void;
  onMessage(conn: ConnId, from: NodeId, msg: M): void;
  /** The connection broke (cut, partition, peer crash or peer close). Not called for our own close(). */
  onClosed?(conn: ConnId, peer: NodeId): void;
}

/** Uniform in [min, max] virtual ms. */
export interface LatencyRange {
  min: number;
  max: number;
}

export type NetTraceEvent =
  | { kind: 'send' | 'deliver' | 'drop'; conn: ConnId; from: NodeId; to: NodeId; msg: unknown }
  | { kind: 'connect' | 'accept' | 'refuse' | 'close'; conn: ConnId; from: NodeId; to: NodeId };

export interface NetworkOptions {
  /** One-way latency per message. Default 0.2..1 ms. */
  latency?: LatencyRange;
  /** Time for a connect attempt to be accepted or refused. Default: `latency`. */
  connectLatency?: LatencyRange;
  /** Time for a live end to notice a broken connection. Default: `latency`. */
  closeDelay?: LatencyRange;
  /**
   * Catch handlers that mutate messages: 'freeze' deep-freezes each message on send (typed arrays
   * cannot be frozen and are skipped), 'clone' delivers a structuredClone. Default 'none'.
   */
  debug?: 'none' | 'freeze' | 'clone';
  trace?: (event: NetTraceEvent) => void;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  /** Sent but never delivered because the connection closed first. */
  dropped: number;
  connects: number;
  refused: number;
  closes: number;
}

interface Conn {
  id: ConnId;
  /** initiator and acceptor */
  a: NodeId;
  b: NodeId;
  state: 'connecting' | 'open' | 'closed';
  /** Incarnation of each end when it joined; a notification to a later incarnation is void. */
  incA: number;
  incB: number;
  /** Virtual time at which the acceptor learns of the connection; nothing is delivered earlier. */
  acceptAt: number;
  /** Last scheduled delivery time per direction, to keep FIFO: [a->b, b->a]. */
  last: [number, number];
  /** The initiator gave up while connecting: it must not hear about the attempt again. */
  abandoned: boolean;
}

interface NodeState<M> {
  up: boolean;
  incarnation: number;
  handlers: NodeHandlers<M> | null;
}

const DEFAULT_LATENCY: LatencyRange = { min: 0.2, max: 1 };

export class SimNetwork<M = unknown> {
  private readonly nodes = new Map<NodeId, NodeState<M>>();
  private readonly conns = new Map<ConnId, Conn>();
  private nextConn = 1;
  /** Partition group per node; null when the network is whole. */
  private groups: Map<NodeId, number> | null = null;
  /** A silent partition keeps connections open and holds what crosses it until heal(). */
  private silent = false;
  private held: Array<() => void> = [];
  private readonly linkLatency = new Map<string, LatencyRange>();
  private readonly opts: Required<Omit<NetworkOptions, 'trace'>> & Pick<NetworkOptions, 'trace'>;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, connects: 0, refused: 0, closes: 0 };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    opts: NetworkOptions = {},
  ) {
    const latency = opts.latency ?? DEFAULT_LATENCY;
    this.opts = {
      latency,
      connectLatency: opts.connectLatency ?? latency,
      closeDelay: opts.closeDelay ?? latency,
      debug: opts.debug ?? 'none',
      trace: opts.trace,
    };
  }

  // ---- node lifecycle ----

  /** Brings a node (re)started up with the handlers of its new incarnation. */
  attach(node: NodeId, handlers: NodeHandlers<M>): void {
    const st = this.nodes.get(node);
    if (st?.up) throw new Error(`node ${node} is already attached`);
    this.nodes.set(node, { up: true, incarnation: (st?.incarnation ?? 0) + 1, handlers });
  }

  /** The node's process dies: its connections break (peers notice after closeDelay), its callbacks stop. */
  crash(node: NodeId): void {
    const st = this.nodes.get(node);
    if (!st?.up) return;
    st.up = false;
    st.handlers = null;
    for (const c of this.conns.values()) if (c.a === node || c.b === node) this.closeConn(c);
  }

  isUp(node: NodeId): boolean {
    return this.nodes.get(node)?.up === true;
  }

  // ---- connections ----

  /**
   * Starts a connection from `from` to `to`. After connectLatency either `to` gets onAccepted and
   * then `from` gets onConnected, or `from` gets onRefused. `from` may send right away.
   */
  connect(from: NodeId, to: NodeId): ConnId {
    if (from === to) throw new Error(`node ${from} cannot connect to itself`);
    const src = this.liveNode(from);
    const id = this.nextConn++;
    const delay = this.draw(this.opts.connectLatency);
    const acceptAt = this.scheduler.now() + delay;
    const c: Conn = { id, a: from, b: to, state: 'connecting', incA: src.incarnation, incB: 0, acceptAt, last: [acceptAt, acceptAt], abandoned: false };
    this.conns.set(id, c);
    this.stats.connects++;
    this.trace({ kind: 'connect', conn: id, from, to });
    this.scheduler.at(acceptAt, () => this.onAcceptEvent(c), 'net.accept');
    return id;
  }

  private onAcceptEvent(c: Conn): void {
    if (this.silent && c.state === 'connecting' && !this.reachable(c.a, c.b)) {
      this.held.push(() => this.scheduler.after(this.draw(this.opts.connectLatency), () => this.onAcceptEvent(c), 'net.accept'));
      return;
    }
    const dst = this.nodes.get(c.b);
    if (c.state !== 'connecting' || !dst?.up || !this.reachable(c.a, c.b)) {
      c.state = 'closed';
      this.conns.delete(c.id);
      if (c.abandoned) return;
      this.stats.refused++;
      this.trace({ kind: 'refuse', conn: c.id, from: c.a, to: c.b });
      this.notify(c.a, c.incA, (h) => h.onRefused?.(c.id, c.b));
      return;
    }
    c.state = 'open';
    c.incB = dst.incarnation;
    this.trace({ kind: 'accept', conn: c.id, from: c.a, to: c.b });
    dst.handlers?.onAccepted?.(c.id, c.a);
    // A separate event, so promise work started by onAccepted settles first.
    this.scheduler.at(this.scheduler.now(), () => {
      if (c.state === 'open') this.notify(c.a, c.incA, (h) => h.onConnected?.(c.id, c.b));
    }, 'net.connected');
  }

  /**
   * Queues msg from `from` to the other end of conn. Messages on a connection that has broken
   * (but whose end has not been told yet) are silently lost, as with TCP.
   */
  send(from: NodeId, conn: ConnId, msg: M): void {
    const c = this.conns.get(conn);
    if (!c) {
      this.stats.sent++;
      this.stats.dropped++;
      return;
    }
    if (from !== c.a && from !== c.b) throw new Error(`node ${from} is not an end of connection ${conn}`);
    if (from === c.b && c.state !== 'open') throw new Error(`node ${from} sent on connection ${conn} before accepting it`);
    const to = from === c.a ? c.b : c.a;
    const dir = from === c.a ? 0 : 1;
    const payload = this.prepare(msg);
    if (this.silent && !this.reachable(from, to)) {
      // Like TCP across a black hole: nothing arrives, nothing breaks; it all arrives after heal().
      this.stats.sent++;
      this.trace({ kind: 'send', conn, from, to, msg: payload });
      this.held.push(() => this.schedule(c, dir, from, to, payload));
      return;
    }
    this.stats.sent++;
    this.trace({ kind: 'send', conn, from, to, msg: payload });
    this.schedule(c, dir, from, to, payload);
  }

  private schedule(c: Conn, dir: 0 | 1, from: NodeId, to: NodeId, payload: M): void {
    const conn = c.id;
    const at = Math.max(this.scheduler.now() + this.draw(this.latencyOf(from, to)), c.last[dir]);
    c.last[dir] = at;
    this.scheduler.at(at, () => {
      if (c.state !== 'open') {
        this.stats.dropped++;
        this.trace({ kind: 'drop', conn, from, to, msg: payload });
        return;
      }
      this.stats.delivered++;
      this.trace({ kind: 'deliver', conn, from, to, msg: payload });
      this.nodes.get(to)?.handlers?.onMessage(conn, from, payload);
    }, 'net.deliver');
  }

  /** `node` closes its end (abortive: in-flight messages are dropped). The peer gets onClosed. */
  close(node: NodeId, conn: ConnId): void {
    const c = this.conns.get(conn);
    if (!c) return;
    if (node !== c.a && node !== c.b) throw new Error(`node ${node} is not an end of connection ${conn}`);
    this.closeConn(c, node);
  }

  /** Breaks every connection between a and b (fault injection). */
  cut(a: NodeId, b: NodeId): void {
    for (const c of this.conns.values()) if ((c.a === a && c.b === b) || (c.a === b && c.b === a)) this.closeConn(c);
  }

  /** Breaks one connection. */
  cutConn(conn: ConnId): void {
    const c = this.conns.get(conn);
    if (c) this.closeConn(c);
  }

  /** Open connections, oldest first (to pick one to cut). */
  openConnections(): { conn: ConnId; a: NodeId; b: NodeId }[] {
    const out: { conn: ConnId; a: NodeId; b: NodeId }[] = [];
    for (const c of this.conns.values()) if (c.state === 'open') out.push({ conn: c.id, a: c.a, b: c.b });
    return out;
  }

  /** The remote end of conn as seen from `node`, or undefined once the connection is gone. */
  peerOf(node: NodeId, conn: ConnId): NodeId | undefined {
    const c = this.conns.get(conn);
    if (!c) return undefined;
    return node === c.a ? c.b : node === c.b ? c.a : undefined;
  }

  private closeConn(c: Conn, closer?: NodeId): void {
    if (c.state === 'closed') return;
    const wasOpen = c.state === 'open';
    c.state = 'closed';
    if (closer === c.a) c.abandoned = true;
    this.stats.closes++;
    this.trace({ kind: 'close', conn: c.id, from: c.a, to: c.b });
    if (wasOpen) {
      // A connection still connecting stays in the map: its accept event reports the refusal.
      this.conns.delete(c.id);
      if (closer !== c.b) this.notifyAfterDelay(c.b, c.incB, c.id, c.a);
    }
    if (closer !== c.a && wasOpen) this.notifyAfterDelay(c.a, c.incA, c.id, c.b);
  }

  private notifyAfterDelay(node: NodeId, inc: number, conn: ConnId, peer: NodeId): void {
    const st = this.nodes.get(peer);
    if (this.silent && st?.up && !this.reachable(node, peer)) {
      // The peer closed on purpose; its FIN/RST crosses the black hole only after heal().
      this.held.push(() => this.notifyAfterDelay(node, inc, conn, peer));
      return;
    }
    this.scheduler.after(this.draw(this.opts.closeDelay), () => this.notify(node, inc, (h) => h.onClosed?.(conn, peer)), 'net.closed');
  }

  /** Calls into a node only if the incarnation that owned the connection is still alive. */
  private notify(node: NodeId, inc: number, call: (h: NodeHandlers<M>) => void): void {
    const st = this.nodes.get(node);
    if (st?.up && st.incarnation === inc && st.handlers) call(st.handlers);
  }

  // ---- partitions and links ----

  /**
   * Splits the network: nodes talk only within their group; a node in no group is alone.
   * Connections across groups break now; new ones across groups are refused until heal().
   */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.releaseHeld();
    const map = new Map<NodeId, number>();
    groups.forEach((g, i) => g.forEach((n) => map.set(n, i)));
    this.groups = map;
    this.silent = false;
    for (const c of this.conns.values()) if (!this.reachable(c.a, c.b)) this.closeConn(c);
  }

  /**
   * A black-hole partition: connections across groups stay open but carry nothing (no data, no
   * connect, no close) until heal(), when everything held goes through in order, as TCP would
   * retransmit it. Only timeouts notice it: this is how a frozen or unplugged server looks.
   */
  partitionSilently(groups: readonly (readonly NodeId[])[]): void {
    this.releaseHeld();
    const map = new Map<NodeId, number>();
    groups.forEach((g, i) => g.forEach((n) => map.set(n, i)));
    this.groups = map;
    this.silent = true;
  }

  /** Ends the partition; what a silent partition held is delivered. Nothing reconnects by itself. */
  heal(): void {
    this.groups = null;
    this.silent = false;
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const fn of held) fn();
  }

  reachable(a: NodeId, b: NodeId): boolean {
    if (!this.groups) return true;
    const ga = this.groups.get(a);
    return ga !== undefined && ga === this.groups.get(b);
  }

  /** Overrides the latency from a to b (a slow link); undefined restores the default. */
  setLinkLatency(from: NodeId, to: NodeId, latency: LatencyRange | undefined): void {
    if (latency) this.linkLatency.set(`${from}>${to}`, latency);
    else this.linkLatency.delete(`${from}>${to}`);
  }

  // ---- helpers ----

  private latencyOf(from: NodeId, to: NodeId): LatencyRange {
    return this.linkLatency.get(`${from}>${to}`) ?? this.opts.latency;
  }

  private draw(r: LatencyRange): number {
    return r.max > r.min ? this.prng.range(r.min, r.max) : r.min;
  }

  private liveNode(node: NodeId): NodeState<M> {
    const st = this.nodes.get(node);
    if (!st?.up) throw new Error(`node ${node} is not up`);
    return st;
  }

  private prepare(msg: M): M {
    switch (this.opts.debug) {
      case 'freeze':
        return deepFreeze(msg);
      case 'clone':
        return structuredClone(msg);
      default:
        return msg;
    }
  }

  private trace(e: NetTraceEvent): void {
    this.opts.trace?.(e);
  }
}

/** Freezes plain objects and arrays recursively; typed arrays cannot be frozen and are left alone. */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v) || ArrayBuffer.isView(v)) return v;
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  return Object.freeze(v);
}
