/**
 * The scalar keys of zoo.cfg: how each value is validated (zod), its default and how it is written
 * back. The table drives both parsing and formatting so the two cannot drift apart.
 */
import { z } from 'zod';
import type { ZabSettings } from './types.js';

const MiB = 1024 * 1024;

export interface Setting<T> {
  /** Validates and converts the raw (trimmed) string value. */
  schema: z.ZodType<T, string>;
  /** Shown in errors after "expected": says what a valid value looks like. */
  expected: string;
  /** Used when the key is absent; absent and no default means the key is required (unless optional). */
  default?: T;
  optional?: boolean;
  /** Other accepted spellings (ZooKeeper's names for the same thing). */
  aliases?: readonly string[];
  format?: (v: T) => string;
}

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^[0-9]+$/)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const text = z.string().min(1);
const host = z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._:-]+)$/);
const yesNo = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['yes', 'no', 'true', 'false']))
  .transform((s) => s === 'yes' || s === 'true');

export type SettingsTable = { [K in keyof ZabSettings]-?: Setting<NonNullable<ZabSettings[K]>> };

export const SETTINGS: SettingsTable = {
  tickTime: { schema: integer(1), expected: 'a positive integer number of milliseconds', default: 3000 },
  initLimit: { schema: integer(1), expected: 'a positive integer number of ticks' },
  syncLimit: { schema: integer(1), expected: 'a positive integer number of ticks' },
  dataDir: { schema: text, expected: 'a directory path' },
  dataLogDir: { schema: text, expected: 'a directory path', optional: true },
  clientPort: { schema: integer(1, 65535), expected: 'a port number between 1 and 65535', optional: true },
  clientPortAddress: { schema: host, expected: 'a host name or IP address', optional: true },
  clusterId: { schema: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), expected: '1-64 letters, digits, ".", "_" or "-"', default: 'zab' },
  snapCount: { schema: integer(1), expected: 'a positive integer number of txns', default: 100_000 },
  snapRetainCount: {
    schema: integer(3),
    expected: 'an integer >= 3 (snapshots kept)',
    default: 3,
    aliases: ['autopurge.snapRetainCount'],
  },
  purgeInterval: {
    schema: integer(0),
    expected: 'a non-negative integer number of hours (0 disables purging)',
    default: 0,
    aliases: ['autopurge.purgeInterval'],
  },
  maxFrameBytes: { schema: integer(1024, 1024 * MiB), expected: 'an integer number of bytes from 1024 to 1 GiB', default: 16 * MiB },
  finalizeWaitMs: { schema: integer(0, 60_000), expected: 'an integer number of milliseconds from 0 to 60000', default: 50 },
  electionTimeoutMs: { schema: integer(1, 3_600_000), expected: 'a positive integer number of milliseconds', default: 5000 },
  forceSync: { schema: yesNo, expected: 'yes or no', default: true, format: (v) => (v ? 'yes' : 'no') },
  logSegmentBytes: { schema: integer(4096), expected: 'an integer number of bytes >= 4096', default: 64 * MiB },
  syncBatchMaxTxns: { schema: integer(1), expected: 'a positive integer number of txns', default: 1000 },
  leaderTimeoutTicks: { schema: integer(1), expected: 'a positive integer number of ticks', default: 2 },
};

/** Key (or alias) as written in the file -> canonical settings key. */
export const SETTING_BY_NAME: ReadonlyMap<string, keyof ZabSettings> = new Map(
  (Object.keys(SETTINGS) as (keyof ZabSettings)[]).flatMap((k) => [k, ...(SETTINGS[k].aliases ?? [])].map((name) => [name, k] as const)),
);
