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
  restore(snapshot: Uint8Array, zxid: Zxid): void;
  /** A digest of the applied state, for cross-server comparison in tests. */
  digest(): string;
}
