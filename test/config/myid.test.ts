import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseZooCfg, readMyId, selfServer } from '../../src/config/index.js';

describe('readMyId', () => {
  let root: string;
  let n = 0;
  const dirWith = async (content?: string): Promise<string> => {
    const dir = join(root, String(n++));
    await mkdir(dir);
    if (content !== undefined) await writeFile(join(dir, 'myid'), content);
    return dir;
  };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'zab-myid-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads the id, tolerating surrounding whitespace', async () => {
    expect(await readMyId(await dirWith('3\n'))).toBe(3);
    expect(await readMyId(await dirWith('  42  '))).toBe(42);
    expect(await readMyId(await dirWith('0'))).toBe(0);
  });

  it('explains how to create a missing file', async () => {
    const dir = await dirWith();
    const file = join(dir, 'myid');
    await expect(readMyId(dir)).rejects.toBeInstanceOf(ConfigError);
    await expect(readMyId(dir)).rejects.toThrow(`${file}: myid file not found: create it containing this server's id, the N of its server.N line (e.g. echo 1 > ${file})`);
  });

  it('rejects empty and non-numeric content', async () => {
    await expect(readMyId(await dirWith(''))).rejects.toThrow(/myid:1: myid must hold this server's id as a non-negative integer, found an empty file/);
    await expect(readMyId(await dirWith('one'))).rejects.toThrow(/found 'one'/);
    await expect(readMyId(await dirWith('-1'))).rejects.toThrow(ConfigError);
    await expect(readMyId(await dirWith('1 2'))).rejects.toThrow(ConfigError);
    await expect(readMyId(await dirWith('99999999999999999999'))).rejects.toThrow(ConfigError);
  });

  it('reports an unreadable path (a directory named myid)', async () => {
    const dir = await dirWith();
    await mkdir(join(dir, 'myid'));
    await expect(readMyId(dir)).rejects.toThrow(/cannot read myid file \(EISDIR\)/);
  });
});

describe('selfServer', () => {
  const c = parseZooCfg(['initLimit=5', 'syncLimit=2', 'dataDir=/d', 'server.1=h:1:2', 'server.2=h:3:4'].join('\n'));

  it('finds this server', () => {
    expect(selfServer(c, 2)).toMatchObject({ id: 2, quorumPort: 3, electionPort: 4 });
  });

  it('explains a myid with no server line', () => {
    expect(() => selfServer(c, 5)).toThrow('zoo.cfg: myid is 5 but there is no server.5 line (servers: 1, 2): fix myid or the config');
  });
});
