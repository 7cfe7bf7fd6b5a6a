/**
 * The statechart diagrams the inspector page draws, keyed by machine id. They are the committed
 * docs/statecharts/*.svg (shipped with the package; a test keeps them current), read once per
 * process; if those files are missing they are laid out here with elkjs, as `zab statecharts` does
 * (a few seconds of CPU, so only as a fallback).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MACHINES } from '../inspect/export.js';
import { describeMachine } from '../inspect/model.js';
import { toSvg } from '../inspect/svg.js';

let cached: Promise<Map<string, string>> | null = null;

/** docs/statecharts of this package, from src/admin (tests) or dist/src/admin (built). */
function docsDirs(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [path.resolve(here, '../../docs/statecharts'), path.resolve(here, '../../../docs/statecharts')];
}

async function committedSvg(name: string): Promise<string | null> {
  for (const dir of docsDirs()) {
    try {
      return await fsp.readFile(path.join(dir, `${name}.svg`), 'utf8');
    } catch {
      // try the next place
    }
  }
  return null;
}

export function statechartSvgs(): Promise<Map<string, string>> {
  cached ??= (async () => {
    const out = new Map<string, string>();
    for (const entry of MACHINES) {
      const model = describeMachine(entry.name, entry.machine);
      out.set(model.id, (await committedSvg(entry.name)) ?? (await toSvg(model)));
    }
    return out;
  })();
  return cached;
}
