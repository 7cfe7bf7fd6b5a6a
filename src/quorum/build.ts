import { HierarchicalQuorum } from './hierarchical.js';
import { MajorityQuorum } from './majority.js';
import type { QuorumSystem } from './quorum-system.js';
import { WeightedQuorum } from './weighted.js';

/** Plain-data description of a quorum system, e.g. from a config file or a test generator. */
export type QuorumSpec =
  | { kind: 'majority'; voters: readonly number[] }
  | { kind: 'weighted'; weights: ReadonlyMap<number, number> }
  | { kind: 'hierarchical'; groups: ReadonlyMap<number, readonly number[]>; weights?: ReadonlyMap<number, number> };

/** Builds and validates a quorum system; throws QuorumConfigError on invalid input. */
export function makeQuorumSystem(spec: QuorumSpec): QuorumSystem {
  switch (spec.kind) {
    case 'majority':
      return new MajorityQuorum(spec.voters);
    case 'weighted':
      return new WeightedQuorum(spec.weights);
    case 'hierarchical':
      return new HierarchicalQuorum(spec.groups, spec.weights);
  }
}
