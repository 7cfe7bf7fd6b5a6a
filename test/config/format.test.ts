import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, buildQuorumSystem, formatZooCfg, parseZooCfg, type ServerSpec, type ZabConfig } from '../../src/config/index.js';

const hostArb = fc.constantFrom('127.0.0.1', 'localhost', 'zoo1.example.com', '::1', 'fe80::1', '10.0.0.7');

/** Servers with unique ids; ports are handed out from disjoint ranges so endpoints never clash. */
const serversArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 7 })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((id, i) =>
        fc
          .record({
            host: hostArb,
            observer: fc.boolean(),
            client: fc.option(fc.record({ host: fc.option(hostArb, { nil: undefined }) }), { nil: undefined }),
            admin: fc.boolean(),
          })
          .map(({ host, observer, client, admin }): ServerSpec => {
            const base = 10_000 + i * 4;
            const s: ServerSpec = { id, host, quorumPort: base, electionPort: base + 1, role: observer ? 'observer' : 'participant' };
            if (client) {
              s.clientPort = base + 2;
              if (client.host !== undefined) s.clientHost = client.host;
            }
            if (admin) s.adminPort = base + 3;
            return s;
          }),
      ),
    ),
  )
  .map((servers) => {
    if (!servers.some((s) => s.role === 'participant')) servers[0]!.role = 'participant';
    return servers.sort((a, b) => a.id - b.id);
  });

/** Majority, flat weighted or hierarchical over the participants. */
const topologyArb = serversArb.chain((servers) => {
  const participants = servers.filter((s) => s.role === 'participant').map((s) => s.id);
  const weightsArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: participants.length, maxLength: participants.length });
  return fc.oneof(
    fc.constant({ servers, groups: new Map<number, number[]>(), weights: new Map<number, number>() }),
    weightsArb.map((ws) => ({ servers, groups: new Map<number, number[]>(), weights: new Map(participants.map((p, i) => [p, ws[i]!])) })),
    fc
      .tuple(weightsArb, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: participants.length, maxLength: participants.length }))
      .map(([ws, gs]) => {
        const groups = new Map<number, number[]>();
        participants.forEach((p, i) => groups.set(gs[i]!, [...(groups.get(gs[i]!) ?? []), p]));
        return { servers, groups, weights: new Map(participants.map((p, i) => [p, ws[i]!])) };
      }),
  );
});

const MiB = 1024 * 1024;
const configArb: fc.Arbitrary<ZabConfig> = fc
  .record({
    topology: topologyArb,
    tickTime: fc.integer({ min: 1, max: 10_000 }),
    initLimit: fc.integer({ min: 1, max: 100 }),
    syncLimit: fc.integer({ min: 1, max: 100 }),
    dataDir: fc.constantFrom('/var/lib/zab', 'data/1', 'C:\\zab\\data', '/tmp/with space'),
    dataLogDir: fc.constantFrom('/var/log/zab', 'log'),
    clientPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    clientPortAddress: fc.option(fc.constantFrom('0.0.0.0', '127.0.0.1', '::'), { nil: undefined }),
    clusterId: fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/),
    snapCount: fc.integer({ min: 1, max: 1_000_000 }),
    snapRetainCount: fc.integer({ min: 3, max: 50 }),
    purgeInterval: fc.integer({ min: 0, max: 48 }),
    maxFrameBytes: fc.integer({ min: 1024, max: 1024 * MiB }),
    finalizeWaitMs: fc.integer({ min: 0, max: 60_000 }),
    electionTimeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
    forceSync: fc.boolean(),
    logSegmentBytes: fc.integer({ min: 4096, max: 1024 * MiB }),
    syncBatchMaxTxns: fc.integer({ min: 1, max: 100_000 }),
    leaderTimeoutTicks: fc.integer({ min: 1, max: 100 }),
  })
  .map(({ topology, ...settings }) => {
    const c: ZabConfig = { source: 'zoo.cfg', ...settings, ...topology, warnings: [] };
    if (c.clientPort === undefined) delete c.clientPort;
    if (c.clientPortAddress === undefined) delete c.clientPortAddress;
    return c;
  })
  .filter((c) => {
    try {
      buildQuorumSystem(c); // drops e.g. all-zero weights
      return true;
    } catch (e) {
      if (e instanceof ConfigError) return false;
      throw e;
    }
  });

describe('formatZooCfg', () => {
  it('parse(format(c)) reproduces any valid config', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        expect(parseZooCfg(formatZooCfg(c))).toEqual(c);
      }),
      { numRuns: 300 },
    );
  });

  it('format(parse(text)) is a fixed point after one round', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        const once = formatZooCfg(c);
        expect(formatZooCfg(parseZooCfg(once))).toBe(once);
      }),
      { numRuns: 100 },
    );
  });

  it('the quorum system survives the round trip', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        const a = buildQuorumSystem(c);
        const b = buildQuorumSystem(parseZooCfg(formatZooCfg(c)));
        expect(b.kind).toBe(a.kind);
        expect(b.voters).toEqual(a.voters);
        expect(b.describe()).toBe(a.describe());
      }),
      { numRuns: 100 },
    );
  });

  it('writes readable ZooKeeper syntax', () => {
    const c = parseZooCfg(
      [
        'initLimit=5',
        'syncLimit=2',
        'dataDir=/d',
        'forceSync=no',
        'server.2=[::1]:2889:3889:observer;127.0.0.1:2182',
        'server.1=localhost:2888:3888;2181',
        'adminPort.1=8080',
        'weight.1=2',
      ].join('\n'),
    );
    const text = formatZooCfg(c);
    expect(text).toContain('\ntickTime=3000\ninitLimit=5\nsyncLimit=2\ndataDir=/d\ndataLogDir=/d\n');
    expect(text).toContain('\nforceSync=no\n');
    expect(text).toContain('\nserver.1=localhost:2888:3888:participant;2181\nserver.2=[::1]:2889:3889:observer;127.0.0.1:2182\nadminPort.1=8080\nweight.1=2\n');
    expect(text.startsWith('#')).toBe(true);
  });
});
