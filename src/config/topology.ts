/**
 * Cross-line checks of servers, groups and weights, and the quorum system they define.
 * Shared by the parser (which knows line numbers) and by configs built in code (which do not).
 */
import { HierarchicalQuorum, MajorityQuorum, QuorumConfigError, WeightedQuorum, type QuorumSystem } from '../quorum/index.js';
import { ConfigError } from './config-error.js';
import type { ServerSpec, ZabConfig } from './types.js';

/** Where each server/group/weight/adminPort entry was defined, for error messages. */
export interface TopologyLines {
  server: ReadonlyMap<number, number>;
  group: ReadonlyMap<number, number>;
  weight: ReadonlyMap<number, number>;
  admin: ReadonlyMap<number, number>;
}

type Topology = Pick<ZabConfig, 'source' | 'servers' | 'groups' | 'weights'>;

export function checkTopology(config: Topology, lines?: TopologyLines): QuorumSystem {
  const fail = (line: number | undefined, reason: string): never => {
    throw new ConfigError(config.source, line, reason);
  };
  const byId = new Map<number, ServerSpec>();
  for (const s of config.servers) {
    if (byId.has(s.id)) fail(lines?.server.get(s.id), `duplicate server id ${s.id} (each server.N must be unique)`);
    byId.set(s.id, s);
  }
  if (byId.size === 0) fail(undefined, 'no servers: add one server.N=host:quorumPort:electionPort line per server');
  const participants = config.servers.filter((s) => s.role === 'participant').map((s) => s.id);
  if (participants.length === 0) fail(undefined, 'no voting servers: every server.N is an observer; make at least one a participant');

  checkEndpoints(config.servers, (id, kind) => lines?.[kind].get(id), fail);

  const groupOf = new Map<number, number>();
  for (const [gid, members] of config.groups) {
    const line = lines?.group.get(gid);
    if (members.length === 0) fail(line, `group.${gid} is empty: list its servers as group.${gid}=a:b:c`);
    for (const sid of members) {
      const s = byId.get(sid);
      if (!s) fail(line, `group.${gid} names unknown server ${sid} (add a server.${sid} line or remove it from the group)`);
      if (s!.role === 'observer') fail(line, `group.${gid} names observer ${sid}: observers do not vote, remove it from the group`);
      const other = groupOf.get(sid);
      if (other !== undefined) {
        fail(line, other === gid ? `group.${gid} lists server ${sid} twice` : `server ${sid} is in two groups (group.${other} and group.${gid}): groups must be disjoint`);
      }
      groupOf.set(sid, gid);
    }
  }
  if (config.groups.size > 0) {
    for (const sid of participants) {
      if (!groupOf.has(sid)) fail(lines?.server.get(sid), `server ${sid} is in no group: when group.G lines are present every participant must belong to one group`);
    }
  }

  for (const [sid, w] of config.weights) {
    const line = lines?.weight.get(sid);
    const s = byId.get(sid);
    if (!s) fail(line, `weight.${sid} names unknown server ${sid} (add a server.${sid} line or remove the weight)`);
    if (!Number.isSafeInteger(w) || w < 0) fail(line, `weight.${sid} must be a non-negative integer, got ${w}`);
    if (s!.role === 'observer' && w !== 0) fail(line, `weight.${sid} is set for observer ${sid}: observers never vote, remove the weight`);
  }

  try {
    return makeSystem(config, participants);
  } catch (e) {
    if (!(e instanceof QuorumConfigError)) throw e;
    // e.g. zero total weight: point at the last weight line, the likeliest culprit.
    const weightLines = [...(lines?.weight.values() ?? [])];
    return fail(weightLines.length > 0 ? Math.max(...weightLines) : undefined, e.message);
  }
}

function makeSystem(config: Topology, participants: number[]): QuorumSystem {
  if (config.groups.size > 0) {
    const weights = [...config.weights].filter(([sid]) => participants.includes(sid));
    return new HierarchicalQuorum(config.groups, weights);
  }
  if (config.weights.size > 0) {
    return new WeightedQuorum(participants.map((sid) => [sid, config.weights.get(sid) ?? 1] as const));
  }
  return new MajorityQuorum(participants);
}

type PortKind = 'quorum' | 'election' | 'client' | 'admin';

/** No two endpoints (of one server or of two servers) may share a host:port. */
function checkEndpoints(
  servers: readonly ServerSpec[],
  lineOf: (id: number, kind: 'server' | 'admin') => number | undefined,
  fail: (line: number | undefined, reason: string) => never,
): void {
  const used = new Map<string, { id: number; kind: PortKind }>();
  for (const s of servers) {
    const ports: Array<[PortKind, number | undefined]> = [
      ['quorum', s.quorumPort],
      ['election', s.electionPort],
      ['client', s.clientPort],
      ['admin', s.adminPort],
    ];
    for (const [kind, port] of ports) {
      if (port === undefined) continue;
      const line = lineOf(s.id, kind === 'admin' ? 'admin' : 'server');
      if (!Number.isInteger(port) || port < 1 || port > 65535) fail(line, `server ${s.id} ${kind} port ${port} is out of range (1-65535)`);
      // All of a server's ports bind on its host, whatever bind address the client port names.
      const key = `${s.host.toLowerCase()}:${port}`;
      const prev = used.get(key);
      if (prev) {
        fail(line, `server ${s.id} ${kind} port ${s.host}:${port} is already used by server ${prev.id} (${prev.kind} port): give each endpoint its own host:port`);
      }
      used.set(key, { id: s.id, kind });
    }
  }
}

/** The quorum system a configuration defines: hierarchical with groups, weighted with weights, else majority. */
export function buildQuorumSystem(config: Topology): QuorumSystem {
  return checkTopology(config);
}
