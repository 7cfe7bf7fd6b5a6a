import {
  QuorumConfigError,
  checkServerId,
  checkWeight,
  formatIds,
  isMoreThanHalf,
  safeSum,
  type QuorumSystem,
} from './quorum-system.js';

/**
 * Flat weighted quorum: a set is a quorum when its weight is more than half of the total weight
 * (ZooKeeper's hierarchical quorum with a single group). Weight-0 participants never count.
 */
export class WeightedQuorum implements QuorumSystem {
  readonly kind = 'weighted' as const;
  readonly voters: ReadonlySet<number>;
  readonly participants: ReadonlySet<number>;
  readonly totalWeight: number;
  private readonly weights: ReadonlyMap<number, number>;

  /** `weights` maps every participant to its weight (>= 0). */
  constructor(weights: ReadonlyMap<number, number> | Iterable<readonly [number, number]>) {
    const map = new Map<number, number>();
    for (const [sid, w] of weights) {
      checkServerId(sid);
      checkWeight(sid, w);
      if (map.has(sid)) throw new QuorumConfigError(`server ${sid} listed twice`);
      map.set(sid, w);
    }
    if (map.size === 0) throw new QuorumConfigError('a weighted quorum needs at least one participant');
    this.totalWeight = safeSum(map.values(), 'the ensemble');
    if (this.totalWeight === 0) {
      throw new QuorumConfigError(`total weight is 0 (servers ${formatIds(map.keys())}): give at least one server a positive weight`);
    }
    this.weights = map;
    this.participants = new Set(map.keys());
    this.voters = new Set([...map].filter(([, w]) => w > 0).map(([sid]) => sid));
  }

  weight(sid: number): number {
    return this.weights.get(sid) ?? 0;
  }

  isVoter(sid: number): boolean {
    return this.weight(sid) > 0;
  }

  containsQuorum(set: Iterable<number>): boolean {
    const ids = set instanceof Set ? (set as ReadonlySet<number>) : new Set(set);
    let sum = 0;
    for (const sid of ids) sum += this.weights.get(sid) ?? 0;
    return isMoreThanHalf(sum, this.totalWeight);
  }

  describe(): string {
    const parts = [...this.weights].sort(([a], [b]) => a - b).map(([sid, w]) => `${sid}:${w}`);
    return `weighted {${parts.join(',')}} (quorum weight > ${this.totalWeight / 2} of ${this.totalWeight})`;
  }
}

