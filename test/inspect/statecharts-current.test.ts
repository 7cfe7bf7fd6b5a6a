/** docs/statecharts/ must be what `zab statecharts` generates from the current machines (and generation is deterministic). */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateStatecharts } from '../../src/inspect/export.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/statecharts');

describe('docs/statecharts', () => {
  it('is generated deterministically', async () => {
    const a = await generateStatecharts();
    const b = await generateStatecharts();
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, text] of a) expect(b.get(name), name).toBe(text);
  });

  it('is current (run `npx zab statecharts` after changing a machine)', async () => {
    const files = await generateStatecharts();
    const stale = [...files].filter(([name, text]) => {
      const file = path.join(DIR, name);
      return !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text;
    });
    const extra = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => !files.has(f)) : [];
    if (stale.length > 0 || extra.length > 0) {
      expect.fail(
        `docs/statecharts is stale: ${[...stale.map(([n]) => n), ...extra.map((f) => `${f} (not generated)`)].join(', ')}. ` +
          'Run `npm run build && npx zab statecharts` and commit the result.',
      );
    }
  });
});
