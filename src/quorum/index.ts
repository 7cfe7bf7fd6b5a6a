export * from './quorum-system.js';
export { MajorityQuorum } from './majority.js';
export { WeightedQuorum } from './weighted.js';
export { HierarchicalQuorum } from './hierarchical.js';
export { largestQuorumValue } from './commit-point.js';
export { makeQuorumSystem, type QuorumSpec } from './build.js';
