/**
 * The statechart diagrams the inspector page draws, keyed by machine id: the same elkjs layout as
 * docs/statecharts/*.svg, computed once per process on first use (a few hundred ms) and shared by
 * every admin server in it.
 */
import { MACHINES } from '../inspect/export.js';
import { describeMachine } from '../inspect/model.js';
import { toSvg } from '../inspect/svg.js';

let cached: Promise<Map<string, string>> | null = null;

export function statechartSvgs(): Promise<Map<string, string>> {
  cached ??= (async () => {
    const out = new Map<string, string>();
    for (const entry of MACHINES) {
      const model = describeMachine(entry.name, entry.machine);
      out.set(model.id, await toSvg(model));
    }
    return out;
  })();
  return cached;
}
