/**
 * Online checker of Zab's safety invariants (zab-reference.md section 6), fed observations as they
 * happen, by the simulator or by tests of real processes. It keeps one global committed sequence:
 * the longest delivered prefix seen. Every delivery must be the next element of that sequence
 * after the server's position, or extend it; that single rule checks PrefixConsistency, Agreement
 * and TotalOrder, and since a zxid's high bits are its epoch, GlobalPrimaryOrder too.
 * Memory: 12 bytes per committed txn (zxid + 32-bit data digest), plus small per-epoch maps;
 * proposals are forgotten once the sequence passes them.
 */
import type { Zxid } from '../zxid.js';
import { epochOf, formatZxid } from '../zxid.js';

export type InvariantName =
  /** two leaders established in one epoch */
  | 'Leadership'
  /** a proposal by a server that is not the established leader of that epoch, or with another epoch's zxid */
  | 'ProposalEpoch'
  /** a leader's zxids do not strictly increase */
  | 'LocalPrimaryOrder'
  /** one zxid proposed with two different payloads */
  | 'ProposalUniqueness'
  /** a leader broadcast without having delivered every older-epoch txn anyone delivered */
  | 'PrimaryIntegrity'
  /** a delivered txn that no leader proposed (with that payload) */
  | 'Integrity'
  /** a delivery that is not the next txn of the global committed sequence (Agreement, TotalOrder) */
  | 'PrefixConsistency'
  /** a server restarted at a zxid that is not a position of the committed sequence */
  | 'Restore'
  /** an acknowledged client write is missing from the committed sequence or from a live server */
  | 'AckedWriteLost'
  /** two servers at the same zxid with different application state */
  | 'StateAgreement'
  /** after faults heal, no leader or no progress within the bound */
  | 'Liveness';

export class InvariantViolation extends Error {
  constructor(
    readonly invariant: InvariantName,
    readonly detail: string,
    readonly sid?: number,
    readonly zxid?: Zxid,
  ) {
    super(`${invariant} violated: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

export interface TxnObservation {
  zxid: Zxid;
  data: Uint8Array;
}

export interface CheckerOptions {
  /** 'throw' (default) throws each violation from the observing call; 'record' only collects them. */
  mode?: 'throw' | 'record';
  /**
   * Require a proposed() observation for every delivered txn, and an established() one for every
   * proposer (default true). Turn off when proposals cannot be observed (real processes).
   */
  observeProposals?: boolean;
  /** How many (zxid -> state digest) observations to remember for StateAgreement. Default 10000. */
  digestWindow?: number;
}

export interface FinalCheckOptions {
  /** Also require every live server to be at the end of the committed sequence. Default false. */
  converged?: boolean;
}

/** CRC-32 (IEEE): a fast 32-bit digest of txn payloads; a collision only hides a difference. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Append-only sequence of (zxid, digest) in typed arrays that double as they fill. */
class CommittedSequence {
  private zxids = new BigUint64Array(1024);
  private digests = new Uint32Array(1024);
  length = 0;

  push(zxid: Zxid, digest: number): void {
    if (this.length === this.zxids.length) {
      const z = new BigUint64Array(this.length * 2);
      z.set(this.zxids);
      this.zxids = z;
      const d = new Uint32Array(this.length * 2);
      d.set(this.digests);
      this.digests = d;
    }
    this.zxids[this.length] = zxid;
    this.digests[this.length] = digest;
    this.length++;
  }

  zxidAt(i: number): Zxid {
    return this.zxids[i] as Zxid;
  }

  digestAt(i: number): number {
    return this.digests[i] as number;
  }

  last(): Zxid {
    return this.length === 0 ? 0n : this.zxidAt(this.length - 1);
  }

  /** Number of elements with zxid <= z (zxids strictly increase). */
  countUpTo(z: Zxid): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.zxidAt(mid) <= z) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class InvariantChecker {
  readonly violations: InvariantViolation[] = [];
  private readonly opts: Required<CheckerOptions>;
  private readonly seq = new CommittedSequence();
  /** Delivered position per server: how many elements of `seq` it has delivered. */
  private readonly position = new Map<number, number>();
  private readonly leaders = new Map<number, number>();
  /** epoch -> the last zxid of its leader's history when it was established */
  private readonly initialHistories = new Map<number, Zxid>();
  /** Per epoch: last zxid proposed, to check LocalPrimaryOrder. */
  private readonly lastProposed = new Map<number, Zxid>();
  /** Proposals beyond the committed sequence's end: zxid -> payload digest. */
  private readonly proposals = new Map<Zxid, number>();
  /** Highest epoch whose leader has proposed: older-epoch txns may no longer join the sequence. */
  private broadcastEpoch = -1;
  /** Acked zxids that were beyond the sequence's end when acked: they must join it later. */
  private readonly unconfirmedAcks = new Map<Zxid, string>();
  /** Highest acked zxid known committed: live servers must reach it (positions are prefixes). */
  private maxCommittedAck: Zxid = 0n;
  private readonly digests = new Map<Zxid, { sid: number; digest: string }>();

  constructor(opts: CheckerOptions = {}) {
    this.opts = { mode: opts.mode ?? 'throw', observeProposals: opts.observeProposals ?? true, digestWindow: opts.digestWindow ?? 10000 };
  }

  /** Length of the global committed sequence. */
  committedCount(): number {
    return this.seq.length;
  }

  /** Last zxid of the global committed sequence (0n when empty). */
  committedZxid(): Zxid {
    return this.seq.last();
  }

  /** zxid of the last txn `sid` delivered (0n if none). */
  positionOf(sid: number): Zxid {
    const p = this.position.get(sid) ?? 0;
    return p === 0 ? 0n : this.seq.zxidAt(p - 1);
  }

  /** A leader of `epoch` was established (a quorum acked its NEWLEADER). */
  established(sid: number, epoch: number, historyEnd?: Zxid): void {
    const prev = this.leaders.get(epoch);
    if (prev !== undefined) {
      this.violate('Leadership', `epoch ${epoch} established by server ${prev} and again by server ${sid}`, sid);
      return;
    }
    this.leaders.set(epoch, sid);
    if (historyEnd !== undefined) this.initialHistories.set(epoch, historyEnd);
  }

  /** The leader `sid` of `epoch` proposed txn. */
  proposed(sid: number, epoch: number, txn: TxnObservation): void {
    const { zxid } = txn;
    const z = formatZxid(zxid);
    if (epochOf(zxid) !== epoch) return this.violate('ProposalEpoch', `server ${sid} proposed ${z} in epoch ${epoch}`, sid, zxid);
    if (this.opts.observeProposals && this.leaders.get(epoch) !== sid) {
      return this.violate('ProposalEpoch', `server ${sid} proposed ${z} but the established leader of epoch ${epoch} is ${this.leaders.get(epoch) ?? 'none'}`, sid, zxid);
    }
    const last = this.lastProposed.get(epoch);
    if (last !== undefined && zxid <= last) return this.violate('LocalPrimaryOrder', `server ${sid} proposed ${z} after ${formatZxid(last)}`, sid, zxid);
    const digest = crc32(txn.data);
    const known = this.proposals.get(zxid) ?? this.committedDigest(zxid);
    if (known !== undefined && known !== digest) return this.violate('ProposalUniqueness', `${z} proposed with two different payloads`, sid, zxid);
    if (last === undefined) {
      // First broadcast of this epoch: the leader must hold every older-epoch txn ever delivered.
      const older = this.seq.countUpTo(BigInt(epoch) * 0x100000000n - 1n);
      const pos = this.position.get(sid) ?? 0;
      if (pos < older) {
        return this.violate('PrimaryIntegrity', `leader ${sid} of epoch ${epoch} broadcasts having delivered ${pos} txns; older epochs committed ${older} (up to ${formatZxid(this.seq.zxidAt(older - 1))})`, sid, zxid);
      }
      if (epoch > this.broadcastEpoch) this.broadcastEpoch = epoch;
    }
    this.lastProposed.set(epoch, zxid);
    if (zxid > this.seq.last()) this.proposals.set(zxid, digest);
  }

  /** Server `sid` (re)started with state up to `zxid` (its snapshot's zxid, or 0n). */
  restored(sid: number, zxid: Zxid): void {
    const n = this.seq.countUpTo(zxid);
    if (zxid !== 0n && (n === 0 || this.seq.zxidAt(n - 1) !== zxid)) {
      this.violate('Restore', `server ${sid} restored at ${formatZxid(zxid)}, which is not a committed position (committed up to ${formatZxid(this.seq.last())})`, sid, zxid);
      return;
    }
    this.position.set(sid, n);
  }

  /** Server `sid` applied committed txn. */
  delivered(sid: number, txn: TxnObservation): void {
    const { zxid } = txn;
    const z = formatZxid(zxid);
    const pos = this.position.get(sid) ?? 0;
    const digest = crc32(txn.data);
    if (pos < this.seq.length) {
      const expected = this.seq.zxidAt(pos);
      if (expected !== zxid) {
        return this.violate('PrefixConsistency', `server ${sid} delivered ${z} where the committed sequence has ${formatZxid(expected)} (after ${formatZxid(this.positionOf(sid))})`, sid, zxid);
      }
      if (this.seq.digestAt(pos) !== digest) return this.violate('PrefixConsistency', `server ${sid} delivered ${z} with a different payload than other servers`, sid, zxid);
      this.position.set(sid, pos + 1);
      return;
    }
    const last = this.seq.last();
    if (zxid <= last) return this.violate('PrefixConsistency', `server ${sid} delivered ${z} after ${formatZxid(last)}`, sid, zxid);
    if (this.opts.observeProposals) {
      const proposed = this.proposals.get(zxid);
      if (proposed === undefined) return this.violate('Integrity', `server ${sid} delivered ${z}, which no leader proposed`, sid, zxid);
      if (proposed !== digest) return this.violate('Integrity', `server ${sid} delivered ${z} with a payload its leader did not propose`, sid, zxid);
    }
    // Recovery discards what it skipped: once epoch e is established on a history ending at Z, no
    // txn of an older epoch after Z may ever commit.
    for (const [e, end] of this.initialHistories) {
      if (epochOf(zxid) < e && zxid > end) {
        return this.violate('PrimaryIntegrity', `${z} of epoch ${epochOf(zxid)} committed although epoch ${e} was established on a history ending at ${formatZxid(end)}`, sid, zxid);
      }
    }
    if (epochOf(zxid) < this.broadcastEpoch) {
      return this.violate('PrimaryIntegrity', `${z} of epoch ${epochOf(zxid)} committed after the leader of epoch ${this.broadcastEpoch} began broadcasting without it`, sid, zxid);
    }
    this.seq.push(zxid, digest);
    this.position.set(sid, pos + 1);
    this.forgetProposalsUpTo(zxid);
    if (this.unconfirmedAcks.delete(zxid) && zxid > this.maxCommittedAck) this.maxCommittedAck = zxid;
  }

  /**
   * A client was told its write committed at zxid. The acking server has normally delivered it
   * already; if not, it must be committed later (checked by finalCheck).
   */
  clientAcked(requestId: string, zxid: Zxid): void {
    if (zxid > this.seq.last()) {
      this.unconfirmedAcks.set(zxid, requestId);
      return;
    }
    if (this.committedDigest(zxid) !== undefined) {
      if (zxid > this.maxCommittedAck) this.maxCommittedAck = zxid;
    } else {
      this.violate('AckedWriteLost', `request ${requestId} acked at ${formatZxid(zxid)}, which the committed sequence skipped`, undefined, zxid);
    }
  }

  /** Server `sid`, having applied up to `zxid`, reports its application state digest. */
  stateDigest(sid: number, zxid: Zxid, digest: string): void {
    const prev = this.digests.get(zxid);
    if (prev === undefined) {
      this.digests.set(zxid, { sid, digest });
      if (this.digests.size > this.opts.digestWindow) this.digests.delete(this.digests.keys().next().value as Zxid);
    } else if (prev.digest !== digest) {
      this.violate('StateAgreement', `at ${formatZxid(zxid)} server ${sid} has state ${digest}, server ${prev.sid} had ${prev.digest}`, sid, zxid);
    }
  }

  /**
   * After faults heal and the system quiesces: every acked write is committed and every live
   * server has delivered past all of them.
   */
  finalCheck(liveServers: readonly number[], opts: FinalCheckOptions = {}): void {
    for (const [zxid, req] of this.unconfirmedAcks) {
      this.violate('AckedWriteLost', `request ${req} acked at ${formatZxid(zxid)}, which was never committed (committed up to ${formatZxid(this.seq.last())})`, undefined, zxid);
    }
    for (const sid of liveServers) {
      const at = this.positionOf(sid);
      if (at < this.maxCommittedAck) {
        this.violate('AckedWriteLost', `live server ${sid} is at ${formatZxid(at)}, behind the acked write ${formatZxid(this.maxCommittedAck)}`, sid, this.maxCommittedAck);
      } else if (opts.converged && (this.position.get(sid) ?? 0) !== this.seq.length) {
        this.violate('PrefixConsistency', `live server ${sid} is at ${formatZxid(at)}, not at the end of the committed sequence ${formatZxid(this.seq.last())}`, sid, at);
      }
    }
  }

  /** Digest of the committed txn at zxid, if the sequence holds it. */
  private committedDigest(zxid: Zxid): number | undefined {
    const n = this.seq.countUpTo(zxid);
    return n > 0 && this.seq.zxidAt(n - 1) === zxid ? this.seq.digestAt(n - 1) : undefined;
  }

  /** Proposals at or below the sequence's end can no longer be delivered as new elements. */
  private forgetProposalsUpTo(zxid: Zxid): void {
    for (const z of this.proposals.keys()) {
      if (z > zxid) break;
      this.proposals.delete(z);
    }
  }

  private violate(invariant: InvariantName, detail: string, sid?: number, zxid?: Zxid): void {
    const v = new InvariantViolation(invariant, detail, sid, zxid);
    this.violations.push(v);
    if (this.opts.mode === 'throw') throw v;
  }
}
