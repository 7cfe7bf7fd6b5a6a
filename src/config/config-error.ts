/**
 * Every configuration problem is a ConfigError whose message says where (file and line),
 * what is wrong and what to do: `zoo.cfg:12: duplicate server id 3 (each server.N must be unique)`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    /** File name (or other label) the text came from. */
    readonly source: string,
    /** 1-based line number; undefined for problems of the file as a whole (e.g. a missing key). */
    readonly line: number | undefined,
    /** The problem and the fix, without the location prefix. */
    readonly reason: string,
  ) {
    super(`${line === undefined ? source : `${source}:${line}`}: ${reason}`);
  }
}
