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
 * ZooKeeper's QuorumHierarchical: servers are split into disjoint groups of weighted servers.
 * A quorum holds more than half of the weight of each of more than half of the groups,
 * where only groups of non-zero total weight are counted (zero-weight groups are discarded).
 * Example: 9 servers in 3 groups of 3, weight 1: two servers in each of two groups form a quorum.
 */
export class HierarchicalQuorum implements QuorumSystem {
  readonly kind = 'hierarchical' as const;
  readonly voters: ReadonlySet<number>;
  readonly participants: ReadonlySet<number>;
  /** Groups by id, members in the order given. */
  readonly groups: ReadonlyMap<number, readonly number[]>;
  private readonly weights: ReadonlyMap<number, number>;
  /** sid -> index into groupWeight/scratch, only for voters. */
  private readonly groupIndex: ReadonlyMap<number, number>;
  private readonly groupWeight: readonly number[];
  /** Groups with non-zero weight; a quorum needs more than half of these. */
  private readonly countedGroups: number;
  /** Per-group accumulator reused by containsQuorum so the hot path does not allocate. */
  private readonly scratch: Float64Array;

  /**
   * @param groups group id -> member server ids; groups must be disjoint and non-empty.
   * @param weights server id -> weight; a member without an entry weighs 1 (as in ZooKeeper).
   *   Every weighted server must belong to a group.
   */
  constructor(
    groups: ReadonlyMap<number, Iterable<number>> | Iterable<readonly [number, Iterable<number>]>,
    weights: ReadonlyMap<number, number> | Iterable<readonly [number, number]> = [],
  ) {
    const groupOf = new Map<number, number>();
    const groupMap = new Map<number, number[]>();
    for (const [gid, members] of groups) {
      checkServerId(gid, 'group id');
      if (groupMap.has(gid)) throw new QuorumConfigError(`group ${gid} defined twice`);
      const list: number[] = [];
      for (const sid of members) {
        checkServerId(sid);
        const other = groupOf.get(sid);
        if (other !== undefined) {
          throw new QuorumConfigError(
            other === gid ? `server ${sid} listed twice in group ${gid}` : `server ${sid} is in two groups (${other} and ${gid}): groups must be disjoint`,
          );
        }
        groupOf.set(sid, gid);
        list.push(sid);
      }
      if (list.length === 0) throw new QuorumConfigError(`group ${gid} is empty`);
      groupMap.set(gid, list);
    }
    if (groupMap.size === 0) throw new QuorumConfigError('a hierarchical quorum needs at least one group');

    const weightMap = new Map<number, number>();
    for (const [sid, w] of weights) {
      checkServerId(sid);
      checkWeight(sid, w);
      if (weightMap.has(sid)) throw new QuorumConfigError(`weight of server ${sid} given twice`);
      if (!groupOf.has(sid)) throw new QuorumConfigError(`server ${sid} has a weight but is in no group: add it to a group`);
      weightMap.set(sid, w);
    }
    for (const sid of groupOf.keys()) if (!weightMap.has(sid)) weightMap.set(sid, 1);

    const total = safeSum(weightMap.values(), 'the ensemble');
    if (total === 0) throw new QuorumConfigError(`total weight is 0 (servers ${formatIds(weightMap.keys())}): give at least one server a positive weight`);

    const groupIndex = new Map<number, number>();
    const groupWeight: number[] = [];
    for (const [gid, members] of groupMap) {
      const w = safeSum(members.map((sid) => weightMap.get(sid) ?? 0), `group ${gid}`);
      if (w === 0) continue; // discarded, as in ZooKeeper
      const idx = groupWeight.length;
      groupWeight.push(w);
      for (const sid of members) if ((weightMap.get(sid) ?? 0) > 0) groupIndex.set(sid, idx);
    }

    this.groups = groupMap;
    this.weights = weightMap;
    this.groupIndex = groupIndex;
    this.groupWeight = groupWeight;
    this.countedGroups = groupWeight.length;
    this.scratch = new Float64Array(groupWeight.length);
    this.participants = new Set(groupOf.keys());
    this.voters = new Set(groupIndex.keys());
  }

  weight(sid: number): number {
    return this.weights.get(sid) ?? 0;
  }

  isVoter(sid: number): boolean {
    return this.weight(sid) > 0;
  }

  containsQuorum(set: Iterable<number>): boolean {
    const ids = set instanceof Set ? (set as ReadonlySet<number>) : new Set(set);
    const acc = this.scratch;
    acc.fill(0);
    for (const sid of ids) {
      const g = this.groupIndex.get(sid);
      if (g !== undefined) acc[g] += this.weights.get(sid)!;
    }
    let majorities = 0;
    for (let g = 0; g < acc.length; g++) if (isMoreThanHalf(acc[g], this.groupWeight[g])) majorities++;
    return isMoreThanHalf(majorities, this.countedGroups);
  }

  describe(): string {
    const parts = [...this.groups]
      .sort(([a], [b]) => a - b)
      .map(([gid, members]) => `${gid}:[${members.map((sid) => `${sid}:${this.weight(sid)}`).join(',')}]`);
    return `hierarchical groups {${parts.join(' ')}} (quorum: > half the weight of > half of ${this.countedGroups} non-zero groups)`;
  }
}
