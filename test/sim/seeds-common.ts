/**
 * The suite's simulation seeds: each seeds-*.test.ts file runs one range of seeds at one fault
 * level, spread over 3, 5 and 7 servers and the three quorum systems exactly as
 * `zab sim --nodes 3,5,7 --quorum all --faults <level>` would (seed s gets combination s mod 9), with
 * the knobs below, so a failing seed replays from the command line (the failure message prints the
 * command). The knobs keep a seed at roughly 0.3-0.9 s of CPU so that ~300 seeds fit the suite's budget.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { SimResult } from '../../src/sim/cluster.js';
import { combinations, describeCombo, QUORUM_KINDS, replayCommand, runSeedSafe, seedOptions, type SeedKnobs } from '../../src/sim/sim-command.js';

export const SUITE_NODES = [3, 5, 7];

/**
 * CPU per seed grows with virtual time x throughput x servers (about 150 ms is fixed: start-up,
 * election, recovery, final checks). Light faults come every 300-1500 ms of virtual time, so their
 * fault phase must be long enough for one or two (at 1200 ms about a quarter of light seeds get none
 * and cover the fault-free path of their configuration instead); a single client halves the work per
 * virtual ms. Heavy faults come every 30-400 ms: a short phase already has several, and two clients
 * keep requests pipelined across leader changes. Measured on 2 busy cores: light ~0.45-0.6 s, heavy
 * ~0.45 s of CPU per seed, ~150 s for the 300 seeds. The soak (`npm run soak`) runs the defaults:
 * 3 clients, 50 txns, 2-3 s fault phases.
 */
export const SUITE_KNOBS: Record<'light' | 'heavy', SeedKnobs> = {
  light: { txns: 20, clients: 1, minFaultPhaseMs: 1200 },
  heavy: { txns: 20, clients: 2, minFaultPhaseMs: 600 },
};

export function failureReport(r: SimResult, replay: string): string {
  const v = r.violation;
  return [
    `seed ${r.seed} (${describeCombo(r)}) failed: ${v?.invariant ?? '?'} at step ${v?.step ?? '?'}, virtual time ${v?.time.toFixed(3) ?? '?'} ms`,
    v?.detail ?? '',
    `replay: ${replay} --trace seed-${r.seed}.jsonl`,
  ].join('\n');
}

/** Registers one test per seed in from..from+count-1, all at fault level `faults`. */
export function seedRange(faults: 'light' | 'heavy', from: number, count: number): void {
  const combos = combinations(SUITE_NODES, QUORUM_KINDS, [faults]);
  const knobs = SUITE_KNOBS[faults];
  const results: SimResult[] = [];
  let cpuMs = 0;
  describe(`${faults} faults, seeds ${from}..${from + count - 1} over 3/5/7 servers x ${QUORUM_KINDS.join('/')}`, () => {
    for (let seed = from; seed < from + count; seed++) {
      const options = seedOptions(seed, combos, knobs);
      it(`seed ${seed} (${describeCombo(options)})`, async () => {
        const c0 = process.cpuUsage();
        const r = await runSeedSafe(options);
        const c = process.cpuUsage(c0);
        cpuMs += (c.user + c.system) / 1000;
        results.push(r);
        if (!r.ok) expect.fail(failureReport(r, replayCommand(options)));
        expect(r.elections).toBeGreaterThanOrEqual(1);
        expect(r.acked).toBeGreaterThanOrEqual(knobs.txns);
        expect(r.committed).toBeGreaterThanOrEqual(r.acked);
        expect(r.virtual_ms).toBeGreaterThanOrEqual(knobs.minFaultPhaseMs ?? 0);
      });
    }
    afterAll(() => {
      const sum = (f: (r: SimResult) => number): number => results.reduce((a, r) => a + f(r), 0);
      const zeroFault = results.filter((r) => r.faultsInjected === 0).length;
      console.info(
        `[seeds ${faults} ${from}..${from + count - 1}] ${results.length} seeds, ${results.filter((r) => !r.ok).length} failed, ` +
          `cpu ${(cpuMs / 1000).toFixed(1)} s (${Math.round(cpuMs / Math.max(1, results.length))} ms/seed), ` +
          `committed ${sum((r) => r.committed)}, elections ${sum((r) => r.elections)}, faults ${sum((r) => r.faultsInjected)} ` +
          `(${zeroFault} seeds without any), max recovery ${Math.max(0, ...results.map((r) => r.max_recovery_ms))} ms virtual`,
      );
    });
  });
}
