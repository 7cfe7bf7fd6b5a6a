import { QuorumConfigError, checkServerId, formatIds, isMoreThanHalf, type QuorumSystem } from './quorum-system.js';

/** ZooKeeper's QuorumMaj: a quorum is more than half of the voters (every participant has weight 1). */
export class MajorityQuorum implements QuorumSystem {
  readonly kind = 'majority' as const;
  readonly voters: ReadonlySet<number>;
  readonly participants: ReadonlySet<number>;
  private readonly size: number;

  constructor(voters: Iterable<number>) {
    const set = new Set<number>();
    for (const sid of voters) {
      checkServerId(sid);
      if (set.has(sid)) throw new QuorumConfigError(`server ${sid} listed twice`);
      set.add(sid);
    }
    if (set.size === 0) throw new QuorumConfigError('a majority quorum needs at least one voter');
    this.voters = set;
    this.participants = set;
    this.size = set.size;
  }

  weight(sid: number): number {
    return this.voters.has(sid) ? 1 : 0;
  }

  isVoter(sid: number): boolean {
    return this.voters.has(sid);
  }

  containsQuorum(set: Iterable<number>): boolean {
    // A Set has no duplicates, so count directly; other iterables are de-duplicated first.
    const ids = set instanceof Set ? (set as ReadonlySet<number>) : new Set(set);
    let count = 0;
    for (const sid of ids) if (this.voters.has(sid)) count++;
    return isMoreThanHalf(count, this.size);
  }

  describe(): string {
    return `majority of ${this.size} voters {${formatIds(this.voters)}} (quorum size ${Math.floor(this.size / 2) + 1})`;
  }
}
