/** The `myid` file in dataDir holds this server's id: the N of its server.N line, as in ZooKeeper. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './config-error.js';
import type { ServerSpec, ZabConfig } from './types.js';

export async function readMyId(dataDir: string): Promise<number> {
  const file = join(dataDir, 'myid');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `myid file not found: create it containing this server's id, the N of its server.N line (e.g. echo 1 > ${file})`
        : `cannot read myid file (${code ?? String(e)})`;
    throw new ConfigError(file, undefined, reason);
  }
  const value = text.trim();
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    const shown = value === '' ? 'an empty file' : `'${value.slice(0, 40)}'`;
    throw new ConfigError(file, 1, `myid must hold this server's id as a non-negative integer, found ${shown}`);
  }
  return Number(value);
}

/** This server's entry in the configuration; throws when myid has no server.N line. */
export function selfServer(config: ZabConfig, myid: number): ServerSpec {
  const s = config.servers.find((x) => x.id === myid);
  if (!s) {
    const ids = config.servers.map((x) => x.id).join(', ');
    throw new ConfigError(config.source, undefined, `myid is ${myid} but there is no server.${myid} line (servers: ${ids}): fix myid or the config`);
  }
  return s;
}
