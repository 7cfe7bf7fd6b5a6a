/** Scans a server's pino JSON log for what must never appear in a healthy run. */
import fs from 'node:fs';

/**
 * Lines of `file` at level fatal (60), at level error (50) or above mentioning an invariant or a
 * breach, or mentioning "invariant breach" at any level. Non-JSON lines (zab: ... messages) are
 * checked for the same words.
 */
export function badLogLines(file: string): string[] {
  const bad: string[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let level = 0;
    try {
      const rec = JSON.parse(line) as { level?: unknown };
      level = typeof rec.level === 'number' ? rec.level : 0;
    } catch {
      // not a pino line
    }
    const breach = /invariant|breach/i.test(line);
    if (level >= 60 || (level >= 50 && breach) || /invariant breach/i.test(line)) bad.push(line);
  }
  return bad;
}
