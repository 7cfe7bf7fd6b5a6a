/**
 * What prepared-but-unapplied txns will leave behind, by key: the leader's view of the future state
 * that prepare() judges requests against. An entry retires when the txn that wrote it (or a later
 * one) is applied; a newer write to the same key replaces it.
 */
import type { Zxid } from '../zxid.js';

export class PendingOverlay<V> {
  private readonly byKey = new Map<string, { value: V; zxid: Zxid }>();
  private order: { zxid: Zxid; key: string }[] = [];
  private head = 0;

  /** The value pending txns leave at `key`, or undefined when none touches it. */
  get(key: string): { value: V } | undefined {
    return this.byKey.get(key);
  }

  set(key: string, value: V, zxid: Zxid): void {
    this.byKey.set(key, { value, zxid });
    this.order.push({ zxid, key });
  }

  /** Drops every entry written by a txn at or below `zxid` (it is applied now). */
  retireUpTo(zxid: Zxid): void {
    while (this.head < this.order.length) {
      const p = this.order[this.head]!;
      if (p.zxid > zxid) break;
      if (this.byKey.get(p.key)?.zxid === p.zxid) this.byKey.delete(p.key);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.byKey.clear();
    this.order = [];
    this.head = 0;
  }

  get size(): number {
    return this.byKey.size;
  }
}
