/**
 * ServerMetrics: one server's Prometheus metrics (prom-client), in a registry of its own so that
 * several servers in one process (tests, embedding) do not mix. Counters and histograms are fed by
 * the server as things happen; gauges (role, epoch, zxids, queues, learners) are read from the
 * server at scrape time, so they cost nothing between scrapes.
 */
import client from 'prom-client';
import type { QuorumMessage, ServerId } from '../protocol/messages.js';
import type { PeerTransport, TransportHandler } from '../runtime/ports.js';
import type { ServerStatus } from '../server/client-protocol.js';
import { parseZxid, epochOf, counterOf } from '../zxid.js';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  status(): ServerStatus;
  queues(): Record<string, number>;
}

const ROLES = ['looking', 'following', 'leading'] as const;

export class ServerMetrics {
  readonly registry = new client.Registry();
  // The per-message and per-txn counts are plain tallies that the counters read at scrape time:
  // prom-client's inc() (label hashing, value checks) was a measurable share of a busy server's CPU.
  private proposedTally = 0;
  private appliedTally = 0;
  private readonly inByType = new Map<string, number>();
  private readonly outByType = new Map<string, number>();
  private readonly fsyncSeconds: client.Histogram;
  private readonly elections: client.Counter;
  private readonly electionSeconds: client.Histogram;
  private lookingSince: number | null = null;

  constructor(source: () => MetricsSource | null, labels: { serverId: number }) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ server_id: String(labels.serverId) });
    // process_* and nodejs_* (CPU, RSS, heap, event-loop lag, GC), prefixed zab_.
    client.collectDefaultMetrics({ register: this.registry, prefix: 'zab_' });

    const tally = (name: string, help: string, value: () => number): void => {
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    tally('zab_txns_proposed_total', 'txns this server proposed as leader', () => this.proposedTally);
    tally('zab_txns_committed_total', 'committed txns applied to the state machine here', () => this.appliedTally);
    const byType = (name: string, help: string, counts: Map<string, number>): void => {
      new client.Counter({
        name,
        help,
        labelNames: ['type'],
        registers,
        collect() {
          this.reset();
          for (const [type, n] of counts) this.inc({ type }, n);
        },
      });
    };
    byType('zab_quorum_messages_received_total', 'quorum-channel messages received, by type (PROPOSAL, ACK, COMMIT, ...)', this.inByType);
    byType('zab_quorum_messages_sent_total', 'quorum-channel messages sent, by type (a broadcast counts once per receiver)', this.outByType);
    this.fsyncSeconds = new client.Histogram({
      name: 'zab_log_fsync_seconds',
      help: 'fdatasync of the txn log (one per group commit)',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.elections = new client.Counter({ name: 'zab_elections_total', help: 'times this server started looking for a leader', registers });
    this.electionSeconds = new client.Histogram({
      name: 'zab_election_duration_seconds',
      help: 'from starting to look to following or leading',
      buckets: [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30],
      registers,
    });

    const read = (): MetricsSource | null => source();
    new client.Gauge({
      name: 'zab_role',
      help: '1 for the role this server is in (looking, following, leading)',
      labelNames: ['role'],
      registers,
      collect() {
        const s = read()?.status();
        for (const r of ROLES) this.set({ role: r }, s?.role === r ? 1 : 0);
      },
    });
    const statusGauge = (name: string, help: string, value: (s: ServerStatus) => number): void => {
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          const s = read()?.status();
          if (s) this.set(value(s));
        },
      });
    };
    statusGauge('zab_broadcasting', '1 while in broadcast phase (serving), else 0', (s) => (s.phase === 'broadcast' ? 1 : 0));
    statusGauge('zab_epoch', 'current epoch', (s) => s.epoch);
    statusGauge('zab_leader_id', 'id of the leader this server follows or is (-1: none)', (s) => s.leader ?? -1);
    statusGauge('zab_last_logged_zxid_epoch', 'epoch of the last durably logged zxid', (s) => zxidPart(s.lastZxid, 'epoch'));
    statusGauge('zab_last_logged_zxid_counter', 'counter of the last durably logged zxid', (s) => zxidPart(s.lastZxid, 'counter'));
    statusGauge('zab_last_applied_zxid_counter', 'counter of the last applied zxid', (s) => zxidPart(s.lastApplied, 'counter'));
    statusGauge('zab_learners_connected', 'learners a leader has (any phase); 0 unless leading', (s) => s.learners?.length ?? 0);
    statusGauge('zab_learners_synced', 'learners a leader has in broadcast phase', (s) => s.learners?.filter((l) => l.phase === 'broadcast').length ?? 0);
    statusGauge('zab_client_connections', 'open client connections', (s) => s.connections);
    statusGauge('zab_znodes', 'znodes in the data tree', (s) => s.znodes ?? 0);
    new client.Gauge({
      name: 'zab_queue_depth',
      help: 'items waiting in a queue: storage (log ops), outbox (messages behind a learner sync), unapplied (logged, not yet applied txns), requests (client writes awaiting commit), peer_send_bytes (bytes queued on peer sockets)',
      labelNames: ['queue'],
      registers,
      collect() {
        const q = read()?.queues();
        if (q) for (const [queue, n] of Object.entries(q)) this.set({ queue }, n);
      },
    });
  }

  proposed(txns: number): void {
    this.proposedTally += txns;
  }

  applied(txns: number): void {
    this.appliedTally += txns;
  }

  fsync(seconds: number): void {
    this.fsyncSeconds.observe(seconds);
  }

  /** Role changes, for election count and duration (times in ms from any monotonic clock). */
  role(role: string, nowMs: number): void {
    if (role === 'looking') {
      if (this.lookingSince === null) {
        this.lookingSince = nowMs;
        this.elections.inc();
      }
    } else if (this.lookingSince !== null) {
      this.electionSeconds.observe((nowMs - this.lookingSince) / 1000);
      this.lookingSince = null;
    }
  }

  received(type: string): void {
    this.inByType.set(type, (this.inByType.get(type) ?? 0) + 1);
  }

  sent(type: string, n: number): void {
    this.outByType.set(type, (this.outByType.get(type) ?? 0) + n);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function zxidPart(hex: string, part: 'epoch' | 'counter'): number {
  try {
    const z = parseZxid(hex);
    return part === 'epoch' ? epochOf(z) : counterOf(z);
  } catch {
    return 0;
  }
}

/** The transport as the runtime sees it, counting quorum messages in and out by type. */
export function countingTransport(inner: PeerTransport, metrics: ServerMetrics): PeerTransport {
  return {
    sendElection: (to, msg) => inner.sendElection(to, msg),
    connectToLeader: (leader) => inner.connectToLeader(leader),
    send: (to: ServerId, msg: QuorumMessage) => {
      metrics.sent(msg.type, 1);
      inner.send(to, msg);
    },
    broadcast: (to, msg) => {
      metrics.sent(msg.type, to.length);
      inner.broadcast(to, msg);
    },
    ...(inner.whenWritable ? { whenWritable: (to: ServerId, low: number) => inner.whenWritable!(to, low) } : {}),
    close: (sid, reason) => inner.close(sid, reason),
    closeAll: (reason) => inner.closeAll(reason),
    shutdown: () => inner.shutdown(),
    attach: (handler: TransportHandler) =>
      inner.attach({
        onElection: (from, msg) => handler.onElection(from, msg),
        onQuorum: (from, msg) => {
          metrics.received(msg.type);
          handler.onQuorum(from, msg);
        },
        onLeaderConnected: (leader) => handler.onLeaderConnected(leader),
        onLeaderConnectFailed: (leader) => handler.onLeaderConnectFailed(leader),
        onQuorumClosed: (sid) => handler.onQuorumClosed(sid),
      }),
  };
}
