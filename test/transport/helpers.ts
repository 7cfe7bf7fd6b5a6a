/** Shared helpers for the TCP transport tests: free ports, transports, a recording handler, raw peers. */
import net, { type Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import type { ServerSpec } from '../../src/config/types.js';
import type { Notification, QuorumMessage, ServerId } from '../../src/protocol/messages.js';
import type { TransportHandler } from '../../src/runtime/ports.js';
import { encodeHandshake, HandshakeReader, type Handshake } from '../../src/transport/handshake.js';
import { TcpPeerTransport } from '../../src/transport/tcp-peer-transport.js';
import type { Channel, TcpPeerTransportOptions } from '../../src/transport/types.js';

/** Ports the OS hands out for port 0 right now (bound together so they are distinct). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** `n` participants (ids 1..n) plus `observers` observers, on free 127.0.0.1 ports. */
export async function ensemble(n: number, observers = 0): Promise<ServerSpec[]> {
  const total = n + observers;
  const ports = await freePorts(total * 2);
  return Array.from({ length: total }, (_, i) => ({
    id: i + 1,
    host: '127.0.0.1',
    quorumPort: ports[2 * i],
    electionPort: ports[2 * i + 1],
    role: i < n ? ('participant' as const) : ('observer' as const),
  }));
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export const WARN = 40;

export class Recorder implements TransportHandler {
  readonly election: { from: ServerId; msg: Notification }[] = [];
  readonly quorum: { from: ServerId; msg: QuorumMessage }[] = [];
  readonly leaderConnected: ServerId[] = [];
  readonly leaderFailed: ServerId[] = [];
  readonly quorumClosed: ServerId[] = [];
  onElection(from: ServerId, msg: Notification): void {
    this.election.push({ from, msg });
  }
  onQuorum(from: ServerId, msg: QuorumMessage): void {
    this.quorum.push({ from, msg });
  }
  onLeaderConnected(leader: ServerId): void {
    this.leaderConnected.push(leader);
  }
  onLeaderConnectFailed(leader: ServerId): void {
    this.leaderFailed.push(leader);
  }
  onQuorumClosed(sid: ServerId): void {
    this.quorumClosed.push(sid);
  }
}

export interface Node {
  t: TcpPeerTransport;
  h: Recorder;
  lines: LogLine[];
}

export async function startNode(
  servers: ServerSpec[],
  self: ServerId,
  extra: Partial<TcpPeerTransportOptions> = {},
): Promise<Node> {
  const { logger, lines } = captureLogger();
  const t = new TcpPeerTransport({
    self,
    servers,
    clusterId: 'test-cluster',
    logger,
    reconnect: { minMs: 20, maxMs: 200 },
    ...extra,
  });
  const h = new Recorder();
  t.attach(h);
  await t.start();
  return { t, h, lines };
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function note(round: number, leader: ServerId = 1): Notification {
  return { type: 'NOTIFICATION', leader, zxid: BigInt(round), peerEpoch: 1, round, state: 'LOOKING' };
}

/** A hand-written peer: connects and (optionally) sends a hello; reports the answer and the close. */
export class RawPeer {
  readonly socket: Socket;
  answer: Handshake | null = null;
  closed = false;
  received = 0;
  private readonly reader = new HandshakeReader();

  private constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.answer) return;
      const step = this.reader.push(chunk);
      if (step.state === 'done') this.answer = step.handshake;
    });
  }

  static async connect(port: number): Promise<RawPeer> {
    const p = new RawPeer(port);
    await new Promise<void>((resolve, reject) => {
      p.socket.once('connect', resolve);
      p.socket.once('error', reject);
    });
    return p;
  }

  /** Connects and sends a hello; waits for the answer unless `wait` is false. */
  static async hello(
    port: number,
    h: { sid: ServerId; channel: Channel; clusterId?: string; version?: number },
    wait = true,
  ): Promise<RawPeer> {
    const p = await RawPeer.connect(port);
    p.socket.write(encodeHandshake({ kind: 'hello', clusterId: 'test-cluster', ...h }));
    if (wait) await waitFor(() => p.answer !== null || p.closed, 'a handshake answer');
    return p;
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
