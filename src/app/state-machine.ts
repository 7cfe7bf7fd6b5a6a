/**
 * The replicated application: event-sourced. The committed txn log is the event stream and the
 * state is its fold. Only the leader calls prepare(); every server calls apply() in zxid order.
 */
import type { Zxid } from '../zxid.js';

export interface ReplicatedStateMachine {
  /**
   * Leader only. Turns a (possibly non-idempotent) client request into an idempotent txn, judged
   * against the committed state plus every txn prepared but not yet applied. A request whose
   * condition fails becomes an error txn, so every server returns the same error.
   */
  prepare(request: Uint8Array, zxid: Zxid): Uint8Array;
  /**
   * Folds one committed txn into the state; returns the result for the client that asked. When
   * `wanted` is false no client on this server waits for it (the txn came through another server,
   * or from a replay): the state must change all the same, but the result may be left out (empty).
   */
  apply(zxid: Zxid, txn: Uint8Array, wanted?: boolean): Uint8Array;
  /** Forgets every prepared but unapplied txn (leadership ended, or the txns were truncated). */
  discardPending(): void;
  /** The zxid of the last applied txn (or of the restored snapshot). */
  lastApplied(): Zxid;
  /** Serialises the applied state; restore(snapshot()) reproduces it exactly. */
  snapshot(): Uint8Array;
  /**
   * Optional: starts a snapshot of the state as it is now that is written piece by piece while txns
   * keep being applied (copy on write keeps what it has not written yet as it was). A big state then
   * never stalls the event loop for the whole serialisation. Apps without it get snapshot().
   */
  beginSnapshot?(): IncrementalSnapshot;
  restore(snapshot: Uint8Array, zxid: Zxid): void;
  /**
   * Optional: restores a snapshot piece by piece; the state stays as it was until the last step
   * swaps the restored one in. A big snapshot then never stalls the event loop for the whole decode
   * (a follower taking a SNAP keeps answering its leader). Apps without it get restore().
   */
  beginRestore?(snapshot: Uint8Array, zxid: Zxid): IncrementalRestore;
  /** A digest of the applied state, for cross-server comparison in tests. */
  digest(): string;
}

/** A snapshot being written in slices (ReplicatedStateMachine.beginSnapshot). */
export interface IncrementalSnapshot {
  /** the zxid the snapshot is at: lastApplied() when it began */
  readonly zxid: Zxid;
  /** Serialises more, for about `budgetMs` of CPU; true once everything is written. */
  step(budgetMs: number): boolean;
  /** The snapshot, once step() returned true: restore() of it gives the state at `zxid`. */
  bytes(): Uint8Array;
  /** Abandons the snapshot (its copies are dropped). */
  cancel(): void;
}

/** A snapshot being restored in slices (ReplicatedStateMachine.beginRestore). */
export interface IncrementalRestore {
  /** the zxid the state will be at */
  readonly zxid: Zxid;
  /**
   * Restores more, for about `budgetMs` of CPU; true once the state is the snapshot's (and
   * lastApplied() its zxid). Throws on a damaged snapshot; the state is then unchanged.
   */
  step(budgetMs: number): boolean;
  /** Abandons the restore; the state stays as it was. */
  cancel(): void;
}
