/**
 * ZooKeeper's zoo.cfg format: `key=value` lines, `#` comments, blank lines. Scalar keys are listed
 * in settings.ts; the ensemble is described by `server.N`, `group.G`, `weight.N` and this
 * project's `adminPort.N=port` (a per-server admin port that `server.N` has no field for).
 * Unknown keys are reported in `warnings`, not rejected, so a real zoo.cfg loads.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from './config-error.js';
import { SERVER_FORMAT, formatServerAddress, parsePort, parseServerAddress } from './server-line.js';
import { SETTINGS, SETTING_BY_NAME, type Setting } from './settings.js';
import { checkTopology, type TopologyLines } from './topology.js';
import type { ServerSpec, ZabConfig, ZabSettings } from './types.js';

interface Entry {
  key: string;
  value: string;
  line: number;
}

/** `server.N`, `group.G`, `weight.N`, `adminPort.N`. */
const INDEXED = /^(server|group|weight|adminPort)\.(.*)$/;

export function parseZooCfg(text: string, source = 'zoo.cfg'): ZabConfig {
  const fail = (line: number | undefined, reason: string): never => {
    throw new ConfigError(source, line, reason);
  };
  const warnings: string[] = [];
  const scalars = new Map<keyof ZabSettings, Entry>();
  const indexed: Record<'server' | 'group' | 'weight' | 'adminPort', Array<Entry & { id: number }>> = {
    server: [],
    group: [],
    weight: [],
    adminPort: [],
  };

  // Pass 1: split lines and sort them by kind, so groups and weights may precede the servers they name.
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) fail(line, `malformed line '${trimmed}': expected key=value, a # comment or a blank line`);
    const entry = { key: trimmed.slice(0, eq).trim(), value: trimmed.slice(eq + 1).trim(), line };
    const m = INDEXED.exec(entry.key);
    if (m) {
      const kind = m[1] as keyof typeof indexed;
      if (!/^[0-9]+$/.test(m[2]!) || !Number.isSafeInteger(Number(m[2]))) {
        fail(line, `bad id '${m[2]}' in '${entry.key}': expected ${kind}.N with N a non-negative integer`);
      }
      const id = Number(m[2]);
      const prev = indexed[kind].find((e) => e.id === id);
      if (prev) {
        const what = kind === 'server' ? `server id ${id} (each server.N must be unique` : `${kind}.${id} (each ${kind}.N may appear once`;
        fail(line, `duplicate ${what}; first defined at line ${prev.line})`);
      }
      indexed[kind].push({ ...entry, id });
      return;
    }
    const name = SETTING_BY_NAME.get(entry.key);
    if (name === undefined) {
      warnings.push(`${source}:${line}: unknown key '${entry.key}' ignored`);
      return;
    }
    const prev = scalars.get(name);
    if (prev) fail(line, `duplicate key ${entry.key} (already set at line ${prev.line}): keep one`);
    scalars.set(name, entry);
  });

  const settings = parseSettings(scalars, fail);

  const servers: ServerSpec[] = indexed.server
    .map(({ id, value, line }) => {
      const addr = parseServerAddress(value);
      return typeof addr === 'string' ? fail(line, `server.${id}: ${addr}`) : { id, ...addr };
    })
    .sort((a, b) => a.id - b.id);
  const byId = new Map(servers.map((s) => [s.id, s]));

  for (const { id, value, line } of indexed.adminPort) {
    const s = byId.get(id) ?? fail(line, `adminPort.${id} names unknown server ${id} (add a server.${id} line)`);
    s.adminPort = parsePort(value) ?? fail(line, `bad adminPort.${id} '${value}': expected a port number between 1 and 65535`);
  }

  const groups = new Map<number, number[]>();
  for (const { id, value, line } of indexed.group) {
    const members = value.split(':').map((t) => t.trim());
    if (members.some((t) => !/^[0-9]+$/.test(t))) fail(line, `bad group.${id} '${value}': expected server ids separated by ':', e.g. group.${id}=1:2:3`);
    groups.set(id, members.map(Number));
  }

  const weights = new Map<number, number>();
  for (const { id, value, line } of indexed.weight) {
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      fail(line, `bad weight.${id} '${value}': expected a non-negative integer`);
    }
    weights.set(id, Number(value));
  }

  const lines: TopologyLines = {
    server: new Map(indexed.server.map((e) => [e.id, e.line])),
    group: new Map(indexed.group.map((e) => [e.id, e.line])),
    weight: new Map(indexed.weight.map((e) => [e.id, e.line])),
    admin: new Map(indexed.adminPort.map((e) => [e.id, e.line])),
  };
  const config: ZabConfig = { source, ...settings, servers, groups, weights, warnings };
  checkTopology(config, lines);
  return config;
}

function parseSettings(entries: ReadonlyMap<keyof ZabSettings, Entry>, fail: (line: number | undefined, reason: string) => never): ZabSettings {
  const out: Partial<Record<keyof ZabSettings, unknown>> = {};
  for (const name of Object.keys(SETTINGS) as (keyof ZabSettings)[]) {
    const setting = SETTINGS[name] as Setting<unknown>;
    const entry = entries.get(name);
    if (entry === undefined) {
      if (setting.default !== undefined) out[name] = setting.default;
      else if (!setting.optional) fail(undefined, `${name} is not set: add ${name}=<${setting.expected}>`);
      continue;
    }
    const r = setting.schema.safeParse(entry.value);
    if (!r.success) fail(entry.line, `invalid ${entry.key} '${entry.value}': expected ${setting.expected}`);
    else out[name] = r.data;
  }
  out.dataLogDir ??= out.dataDir;
  return out as unknown as ZabSettings;
}

/** Reads and parses a zoo.cfg file; the path becomes the `source` in messages. */
export async function loadZooCfg(path: string): Promise<ZabConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(path, undefined, code === 'ENOENT' ? 'config file not found: check the path' : `cannot read config file (${code ?? String(e)})`);
  }
  return parseZooCfg(text, path);
}

/** Writes a configuration in zoo.cfg format; parseZooCfg(formatZooCfg(c)) reproduces c. */
export function formatZooCfg(config: ZabConfig): string {
  const out = ['# Generated by zab-ts. Format: ZooKeeper zoo.cfg (key=value, # comments).'];
  for (const name of Object.keys(SETTINGS) as (keyof ZabSettings)[]) {
    const value = config[name];
    if (value === undefined) continue;
    const setting = SETTINGS[name] as Setting<unknown>;
    out.push(`${name}=${setting.format ? setting.format(value) : String(value)}`);
  }
  out.push(`# server.N=${SERVER_FORMAT}`);
  const servers = [...config.servers].sort((a, b) => a.id - b.id);
  for (const s of servers) out.push(`server.${s.id}=${formatServerAddress(s)}`);
  for (const s of servers) if (s.adminPort !== undefined) out.push(`adminPort.${s.id}=${s.adminPort}`);
  for (const [gid, members] of [...config.groups].sort(([a], [b]) => a - b)) out.push(`group.${gid}=${members.join(':')}`);
  for (const [sid, w] of [...config.weights].sort(([a], [b]) => a - b)) out.push(`weight.${sid}=${w}`);
  return out.join('\n') + '\n';
}
