/** The parsed, validated configuration of one ensemble (every server reads the same zoo.cfg). */

export type ServerRole = 'participant' | 'observer';

/** One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line (+ `adminPort.N`). */
export interface ServerSpec {
  id: number;
  host: string;
  /** Learner <-> leader traffic (ZooKeeper's 2888). */
  quorumPort: number;
  /** Leader election traffic (ZooKeeper's 3888). */
  electionPort: number;
  role: ServerRole;
  /** Client bind address; ZooKeeper defaults it to 0.0.0.0 when only a port is given. */
  clientHost?: string;
  clientPort?: number;
  /** Admin/metrics HTTP port of this server (`adminPort.N=port`), if any. */
  adminPort?: number;
}

/** Scalar keys. ZooKeeper's keys keep their ZooKeeper meaning; the rest are this project's own. */
export interface ZabSettings {
  /** Basic time unit in ms; initLimit and syncLimit are counted in ticks. */
  tickTime: number;
  /** Ticks a learner may take to connect to and sync with the leader. */
  initLimit: number;
  /** Ticks a follower may lag (no heartbeat answer) before the leader drops it. */
  syncLimit: number;
  /** Snapshots, epoch files and myid. */
  dataDir: string;
  /** Transaction log directory; defaults to dataDir (a separate device avoids fsync contention). */
  dataLogDir: string;
  clientPort?: number;
  clientPortAddress?: string;
  /** Project: name of the ensemble, checked in handshakes so two clusters never mix. */
  clusterId: string;
  /** Project: txns logged between snapshots. */
  snapCount: number;
  /** Project (ZooKeeper's autopurge.snapRetainCount): snapshots (and their logs) kept by purge, >= 3. */
  snapRetainCount: number;
  /** Project (ZooKeeper's autopurge.purgeInterval): hours between purges; 0 disables purging. */
  purgeInterval: number;
  /** Project: largest accepted frame on either channel, in bytes. */
  maxFrameBytes: number;
  /** Project: ms an election waits for a better vote after seeing a quorum (ZooKeeper's finalizeWait, 200). */
  finalizeWaitMs: number;
  /** Project: cap in ms on the doubling re-send interval of election notifications (ZooKeeper: 60 s). */
  electionTimeoutMs: number;
  /** Project: fsync the txn log before acknowledging (ZooKeeper's forceSync); `no` only for tests. */
  forceSync: boolean;
  /** Project: txn log segment file size at which a new segment is started. */
  logSegmentBytes: number;
  /** Project: most txns group-committed by one log fsync / sent in one PROPOSAL batch. */
  syncBatchMaxTxns: number;
  /** Project: ticks a synced follower waits without a word from its leader before looking again (at most syncLimit). */
  leaderTimeoutTicks: number;
}

export interface ZabConfig extends ZabSettings {
  /** Where the configuration came from (for messages). */
  source: string;
  /** Sorted by id. */
  servers: ServerSpec[];
  /** `group.G=a:b:c`: group id -> member server ids. Non-empty means a hierarchical quorum. */
  groups: Map<number, number[]>;
  /** `weight.N=w`. Without groups, a non-empty map means a flat weighted quorum; unlisted participants weigh 1. */
  weights: Map<number, number>;
  /** Non-fatal findings, e.g. unknown keys, each prefixed with its location. */
  warnings: string[];
}
