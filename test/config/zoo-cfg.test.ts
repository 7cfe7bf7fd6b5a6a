import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, buildQuorumSystem, loadZooCfg, parseZooCfg } from '../../src/config/index.js';

const BASE = ['tickTime=2000', 'initLimit=10', 'syncLimit=5', 'dataDir=/var/lib/zab'];
const THREE = ['server.1=127.0.0.1:2888:3888', 'server.2=127.0.0.1:2889:3889', 'server.3=127.0.0.1:2890:3890'];
const cfg = (...lines: string[]) => [...BASE, ...lines].join('\n');

/** Parses and returns the ConfigError thrown (fails the test if none is). */
function errorOf(text: string, source?: string): ConfigError {
  try {
    parseZooCfg(text, source);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseZooCfg: a typical ZooKeeper file', () => {
  const text = `# The number of milliseconds of each tick
tickTime=2000
  initLimit = 10
syncLimit=5

dataDir=/var/lib/zookeeper
dataLogDir=/var/log/zookeeper
clientPort=2181
maxClientCnxns=60
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
server.1=zoo1.example.com:2888:3888
server.2=zoo2.example.com:2888:3888;2181
server.3=zoo3.example.com:2888:3888:participant;0.0.0.0:2181
server.4=zoo4.example.com:2888:3888:observer
`;
  const c = parseZooCfg(text);

  it('reads ZooKeeper keys, trimming whitespace around keys and values', () => {
    expect(c.tickTime).toBe(2000);
    expect(c.initLimit).toBe(10);
    expect(c.syncLimit).toBe(5);
    expect(c.dataDir).toBe('/var/lib/zookeeper');
    expect(c.dataLogDir).toBe('/var/log/zookeeper');
    expect(c.clientPort).toBe(2181);
    expect(c.snapRetainCount).toBe(5);
    expect(c.purgeInterval).toBe(24);
    expect(c.source).toBe('zoo.cfg');
  });

  it('reads server lines with roles and client addresses', () => {
    expect(c.servers).toEqual([
      { id: 1, host: 'zoo1.example.com', quorumPort: 2888, electionPort: 3888, role: 'participant' },
      { id: 2, host: 'zoo2.example.com', quorumPort: 2888, electionPort: 3888, role: 'participant', clientPort: 2181 },
      { id: 3, host: 'zoo3.example.com', quorumPort: 2888, electionPort: 3888, role: 'participant', clientHost: '0.0.0.0', clientPort: 2181 },
      { id: 4, host: 'zoo4.example.com', quorumPort: 2888, electionPort: 3888, role: 'observer' },
    ]);
  });

  it('warns about unknown keys with their line, and fills project defaults', () => {
    expect(c.warnings).toEqual(["zoo.cfg:9: unknown key 'maxClientCnxns' ignored"]);
    expect(c.clusterId).toBe('zab');
    expect(c.snapCount).toBe(100_000);
    expect(c.maxFrameBytes).toBe(16 * 1024 * 1024);
    expect(c.finalizeWaitMs).toBe(50);
    expect(c.electionTimeoutMs).toBe(5000);
    expect(c.forceSync).toBe(true);
    expect(c.logSegmentBytes).toBe(64 * 1024 * 1024);
    expect(c.syncBatchMaxTxns).toBe(1000);
  });

  it('derives a majority quorum over the participants only', () => {
    const q = buildQuorumSystem(c);
    expect(q.kind).toBe('majority');
    expect([...q.voters]).toEqual([1, 2, 3]);
    expect(q.isVoter(4)).toBe(false);
    expect(q.containsQuorum([1, 4])).toBe(false);
    expect(q.containsQuorum([1, 3])).toBe(true);
  });
});

describe('parseZooCfg: defaults and project keys', () => {
  it('defaults tickTime and dataLogDir, sorts servers by id, accepts CRLF', () => {
    const c = parseZooCfg(['initLimit=5', 'syncLimit=2', 'dataDir=/d', 'server.3=h3:1:2', 'server.1=h1:1:2'].join('\r\n'));
    expect(c.tickTime).toBe(3000);
    expect(c.dataLogDir).toBe('/d');
    expect(c.servers.map((s) => s.id)).toEqual([1, 3]);
    expect(c.clientPort).toBeUndefined();
    expect(c.warnings).toEqual([]);
  });

  it('reads every project key', () => {
    const c = parseZooCfg(
      cfg(
        ...THREE,
        'clusterId=test-1',
        'snapCount=500',
        'snapRetainCount=4',
        'purgeInterval=1',
        'maxFrameBytes=1048576',
        'finalizeWaitMs=0',
        'electionTimeoutMs=800',
        'forceSync=no',
        'logSegmentBytes=65536',
        'syncBatchMaxTxns=64',
        'adminPort.2=8082',
        'clientPortAddress=127.0.0.1',
      ),
    );
    expect(c).toMatchObject({
      clusterId: 'test-1',
      snapCount: 500,
      snapRetainCount: 4,
      purgeInterval: 1,
      maxFrameBytes: 1 << 20,
      finalizeWaitMs: 0,
      electionTimeoutMs: 800,
      forceSync: false,
      logSegmentBytes: 65536,
      syncBatchMaxTxns: 64,
      clientPortAddress: '127.0.0.1',
    });
    expect(c.servers[1]!.adminPort).toBe(8082);
    expect(c.servers[0]!.adminPort).toBeUndefined();
  });

  it('forceSync accepts yes/no/true/false in any case', () => {
    expect(parseZooCfg(cfg(...THREE, 'forceSync=YES')).forceSync).toBe(true);
    expect(parseZooCfg(cfg(...THREE, 'forceSync=false')).forceSync).toBe(false);
    expect(errorOf(cfg(...THREE, 'forceSync=maybe')).message).toBe("zoo.cfg:8: invalid forceSync 'maybe': expected yes or no");
  });

  it('parses bracketed IPv6 hosts', () => {
    const c = parseZooCfg(cfg('server.1=[::1]:2888:3888;[::1]:2181', 'server.2=[fe80::2]:2888:3888:observer'));
    expect(c.servers[0]).toMatchObject({ host: '::1', clientHost: '::1', clientPort: 2181 });
    expect(c.servers[1]).toMatchObject({ host: 'fe80::2', role: 'observer' });
  });

  it('allows group, weight and adminPort lines before the servers they name', () => {
    const c = parseZooCfg(cfg('group.1=1:2:3', 'weight.1=2', 'adminPort.1=9000', ...THREE));
    expect(c.groups).toEqual(new Map([[1, [1, 2, 3]]]));
    expect(c.weights).toEqual(new Map([[1, 2]]));
  });
});

describe('parseZooCfg: quorum kinds', () => {
  it('groups give a hierarchical quorum: the seed 9/3/3 example', () => {
    const servers = Array.from({ length: 9 }, (_, i) => `server.${i + 1}=10.0.0.${i + 1}:2888:3888`);
    const weights = Array.from({ length: 9 }, (_, i) => `weight.${i + 1}=1`);
    const c = parseZooCfg(cfg(...servers, 'group.1=1:2:3', 'group.2=4:5:6', 'group.3=7:8:9', ...weights));
    const q = buildQuorumSystem(c);
    expect(q.kind).toBe('hierarchical');
    expect(q.containsQuorum([1, 2, 4, 5])).toBe(true);
    expect(q.containsQuorum([1, 2, 3, 4, 7])).toBe(false);
  });

  it('weights without groups give a flat weighted quorum; unlisted participants weigh 1', () => {
    const c = parseZooCfg(cfg(...THREE, 'weight.1=3', 'weight.3=0'));
    const q = buildQuorumSystem(c);
    expect(q.kind).toBe('weighted');
    expect(q.weight(1)).toBe(3);
    expect(q.weight(2)).toBe(1);
    expect(q.weight(3)).toBe(0);
    expect(q.isVoter(3)).toBe(false);
    expect(q.containsQuorum([1])).toBe(true); // 3 > 4/2
    expect(q.containsQuorum([2, 3])).toBe(false);
  });

  it('observers are never voters, even when the file gives them weight 0', () => {
    const c = parseZooCfg(cfg(...THREE, 'server.4=127.0.0.1:2891:3891:observer', 'weight.4=0', 'weight.1=1'));
    const q = buildQuorumSystem(c);
    expect(q.participants.has(4)).toBe(false);
    expect(q.weight(4)).toBe(0);
  });
});

describe('parseZooCfg: errors carry file, line, problem and fix', () => {
  const cases: Array<[string, string, RegExp | string]> = [
    ['malformed line', cfg(...THREE, 'justtext'), "zoo.cfg:8: malformed line 'justtext': expected key=value, a # comment or a blank line"],
    ['empty key', cfg(...THREE, '=5'), /zoo.cfg:8: malformed line/],
    ['duplicate server id', cfg(...THREE, 'server.3=127.0.0.2:2888:3888'), 'zoo.cfg:8: duplicate server id 3 (each server.N must be unique; first defined at line 7)'],
    ['duplicate key', cfg(...THREE, 'tickTime=100'), 'zoo.cfg:8: duplicate key tickTime (already set at line 1): keep one'],
    ['duplicate key via alias', cfg(...THREE, 'snapRetainCount=3', 'autopurge.snapRetainCount=4'), /zoo.cfg:9: duplicate key autopurge.snapRetainCount \(already set at line 8\)/],
    ['bad server id', cfg('server.x=h:1:2'), "zoo.cfg:5: bad id 'x' in 'server.x': expected server.N with N a non-negative integer"],
    ['negative server id', cfg('server.-1=h:1:2'), /zoo.cfg:5: bad id '-1'/],
    ['port out of range', cfg('server.1=h:70000:3888'), "zoo.cfg:5: server.1: bad quorum port '70000' (expected 1-65535)"],
    ['port zero', cfg('server.1=h:2888:0'), /bad election port '0'/],
    ['client port out of range', cfg('server.1=h:2888:3888;65536'), /zoo.cfg:5: server.1: bad client port '65536'/],
    ['too few server fields', cfg('server.1=h:2888'), /zoo.cfg:5: server.1: expected host:quorumPort:electionPort/],
    ['bad role', cfg('server.1=h:2888:3888:leader'), "zoo.cfg:5: server.1: bad role 'leader' (expected participant or observer)"],
    ['same quorum and election port', cfg('server.1=h:2888:2888'), /quorum and election ports are both 2888/],
    ['bad host', cfg('server.1=h@x:1:2'), /bad host 'h@x'/],
    ['multi-address', cfg('server.1=a:1:2|b:1:2'), /multiple addresses per server/],
    ['two servers on one host:port', cfg('server.1=h:2888:3888', 'server.2=H:2889:2888'), 'zoo.cfg:6: server 2 election port H:2888 is already used by server 1 (quorum port): give each endpoint its own host:port'],
    ['client port clashing with a peer port', cfg('server.1=h:2888:3888;3888'), /zoo.cfg:5: server 1 client port h:3888 is already used by server 1 \(election port\)/],
    ['admin port clashing', cfg('server.1=h:2888:3888', 'adminPort.1=2888'), /zoo.cfg:6: server 1 admin port/],
    ['admin port for unknown server', cfg(...THREE, 'adminPort.7=9000'), 'zoo.cfg:8: adminPort.7 names unknown server 7 (add a server.7 line)'],
    ['bad admin port', cfg(...THREE, 'adminPort.1=0'), /zoo.cfg:8: bad adminPort.1 '0'/],
    ['server in two groups', cfg(...THREE, 'group.1=1:2', 'group.2=2:3'), 'zoo.cfg:9: server 2 is in two groups (group.1 and group.2): groups must be disjoint'],
    ['group names unknown server', cfg(...THREE, 'group.1=1:2:3:4'), 'zoo.cfg:8: group.1 names unknown server 4 (add a server.4 line or remove it from the group)'],
    ['group with observer', cfg(...THREE, 'server.4=h:1:2:observer', 'group.1=1:2:3:4'), /group.1 names observer 4/],
    ['malformed group', cfg(...THREE, 'group.1=1,2,3'), /zoo.cfg:8: bad group.1 '1,2,3': expected server ids separated by ':'/],
    ['participant outside every group', cfg(...THREE, 'group.1=1:2'), /zoo.cfg:7: server 3 is in no group/],
    ['duplicate group', cfg(...THREE, 'group.1=1:2:3', 'group.1=1'), /zoo.cfg:9: duplicate group.1 \(each group.N may appear once; first defined at line 8\)/],
    ['weight for unknown server', cfg(...THREE, 'weight.9=1'), /zoo.cfg:8: weight.9 names unknown server 9/],
    ['negative weight', cfg(...THREE, 'weight.1=-1'), "zoo.cfg:8: bad weight.1 '-1': expected a non-negative integer"],
    ['weight for an observer', cfg(...THREE, 'server.4=h:1:2:observer', 'weight.4=1'), /weight.4 is set for observer 4/],
    ['zero total weight', cfg(...THREE, 'weight.1=0', 'weight.2=0', 'weight.3=0'), /zoo.cfg:10: total weight is 0/],
    ['zero total weight in groups', cfg(...THREE, 'group.1=1:2:3', 'weight.1=0', 'weight.2=0', 'weight.3=0'), /zoo.cfg:11: total weight is 0/],
    ['no voters', cfg('server.1=h:1:2:observer'), 'zoo.cfg: no voting servers: every server.N is an observer; make at least one a participant'],
    ['no servers', cfg(), /zoo.cfg: no servers: add one server.N=host:quorumPort:electionPort line/],
    ['tickTime zero', cfg(...THREE).replace('tickTime=2000', 'tickTime=0'), "zoo.cfg:1: invalid tickTime '0': expected a positive integer number of milliseconds"],
    ['initLimit negative', cfg(...THREE).replace('initLimit=10', 'initLimit=-3'), "zoo.cfg:2: invalid initLimit '-3': expected a positive integer number of ticks"],
    ['syncLimit fractional', cfg(...THREE).replace('syncLimit=5', 'syncLimit=1.5'), /zoo.cfg:3: invalid syncLimit '1.5'/],
    ['syncLimit missing', cfg(...THREE).replace('syncLimit=5', ''), 'zoo.cfg: syncLimit is not set: add syncLimit=<a positive integer number of ticks>'],
    ['dataDir missing', cfg(...THREE).replace('dataDir=/var/lib/zab', '# no dataDir'), /zoo.cfg: dataDir is not set/],
    ['clientPort out of range', cfg(...THREE, 'clientPort=99999'), /zoo.cfg:8: invalid clientPort '99999': expected a port number between 1 and 65535/],
    ['snapRetainCount below 3', cfg(...THREE, 'snapRetainCount=2'), /invalid snapRetainCount '2': expected an integer >= 3/],
    ['clusterId with spaces', cfg(...THREE, 'clusterId=a b'), /invalid clusterId 'a b'/],
    ['maxFrameBytes too small', cfg(...THREE, 'maxFrameBytes=10'), /invalid maxFrameBytes '10'/],
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    const e = errorOf(text);
    if (typeof expected === 'string') expect(e.message).toBe(expected);
    else expect(e.message).toMatch(expected);
  });

  it('exposes source, line and reason separately', () => {
    const e = errorOf(cfg(...THREE, 'server.3=h:1:2'), 'cluster/zoo.cfg');
    expect(e.source).toBe('cluster/zoo.cfg');
    expect(e.line).toBe(8);
    expect(e.reason).toMatch(/^duplicate server id 3/);
    expect(e.name).toBe('ConfigError');
    expect(e.message.startsWith('cluster/zoo.cfg:8: ')).toBe(true);
  });
});

describe('buildQuorumSystem on configs built in code', () => {
  const c = parseZooCfg(cfg(...THREE));

  it('validates what the parser would, without line numbers', () => {
    expect(() => buildQuorumSystem({ ...c, groups: new Map([[1, [1, 2]], [2, [2, 3]]]) })).toThrow(
      'zoo.cfg: server 2 is in two groups (group.1 and group.2): groups must be disjoint',
    );
    expect(() => buildQuorumSystem({ ...c, servers: [...c.servers, c.servers[0]!] })).toThrow(/duplicate server id 1/);
    expect(() => buildQuorumSystem({ ...c, weights: new Map([[1, 0.5]]) })).toThrow(/weight.1 must be a non-negative integer/);
    expect(() => buildQuorumSystem({ ...c, servers: [] })).toThrow(ConfigError);
  });
});

describe('loadZooCfg', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zab-cfg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and uses its path as the source', async () => {
    const path = join(dir, 'zoo.cfg');
    await writeFile(path, cfg(...THREE, 'bogus=1'));
    const c = await loadZooCfg(path);
    expect(c.servers).toHaveLength(3);
    expect(c.source).toBe(path);
    expect(c.warnings).toEqual([`${path}:8: unknown key 'bogus' ignored`]);
  });

  it('reports a missing file as a ConfigError', async () => {
    const path = join(dir, 'nope.cfg');
    await expect(loadZooCfg(path)).rejects.toThrow(`${path}: config file not found: check the path`);
    await expect(loadZooCfg(path)).rejects.toBeInstanceOf(ConfigError);
  });

  it('reports errors against the file path', async () => {
    const path = join(dir, 'bad.cfg');
    await writeFile(path, cfg('server.1=h:1'));
    await expect(loadZooCfg(path)).rejects.toThrow(`${path}:5: server.1:`);
  });
});
