/**
 * The viewer on a real failure: the planted bug 'skip-trunc' on the seed test/sim/planted-bugs.test.ts
 * pins for it (3), under the same heavy-fault options, traced in memory and rendered.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSeed, type SimOptions } from '../../src/sim/cluster.js';
import { plantedMachine } from '../../src/sim/planted-bugs.js';
import { combinations, QUORUM_KINDS, seedOptions } from '../../src/sim/sim-command.js';
import { collectTrace } from '../../src/trace/collect.js';
import { renderChart } from '../../src/trace/render.js';
import { runCli } from '../../src/cli/program.js';
import { SUITE_KNOBS, SUITE_NODES } from '../sim/seeds-common.js';

// As in test/sim/planted-bugs.test.ts.
const HEAVY = combinations(SUITE_NODES, QUORUM_KINDS, ['heavy']);
const KNOBS = { ...SUITE_KNOBS.heavy, txns: 60, minFaultPhaseMs: 3000 };
const SEED = 3;

describe("trace view of planted bug 'skip-trunc', seed 3", () => {
  it('names the violated invariant and anchors the chart on the violation step', async () => {
    const lines: string[] = [];
    const o: SimOptions = { ...seedOptions(SEED, HEAVY, KNOBS), machine: plantedMachine('skip-trunc'), trace: (l) => lines.push(l) };
    const r = await runSeed(o);
    expect(r.ok).toBe(false);
    const v = r.violation!;

    const model = collectTrace(lines, { maxEvents: 300 });
    expect(model.violation?.invariant).toBe(v.invariant);
    expect(model.violation?.step).toBe(v.step);
    expect(model.violationShown).toBe(true);
    expect(model.events.length).toBe(300);
    expect(model.events[model.events.length - 1]!.kind).toBe('violation');
    expect(model.sids).toEqual(Array.from({ length: r.nodes }, (_, i) => i + 1));

    const html = renderChart(model, { title: `seed ${SEED}` });
    expect(html).toContain(`Invariant violated: ${v.invariant}`);
    expect(html).toContain(`VIOLATION ${v.invariant}`);
    expect(html).toContain("getElementById('violation')");
    expect(html).toMatch(/Showing the last 300 of \d+ events before the violation/);
    // The marker carries the violation's step, and the rows just before it are at or before that step.
    const marker = new RegExp(`<g class="ev violation" id="violation" data-kind="violation" data-step="(\\d+)"`).exec(html);
    expect(marker).not.toBeNull();
    expect(Number(marker![1])).toBe(v.step);
    const steps = [...html.matchAll(/data-step="(\d+)"/g)].map((m) => Number(m[1]));
    expect(steps[steps.length - 1]).toBe(v.step);
    expect(Math.max(...steps)).toBe(v.step);
    expect(steps.slice(-20).every((s) => s >= v.step - 200)).toBe(true);
    // Decoded quorum traffic is labelled.
    expect(html).toMatch(/>(PROPOSAL|COMMIT|ACK|PING) 0x[0-9a-f]+/);

    // The same through the command line, streaming the file.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-trace-'));
    try {
      const file = path.join(dir, 'seed3.jsonl');
      fs.writeFileSync(file, lines.join('\n') + '\n');
      const out: string[] = [];
      const code = await runCli(['trace', 'view', file, '--max-events', '300'], { out: (s) => out.push(s), err: (s) => out.push(s) });
      expect(code, out.join('')).toBe(0);
      expect(out.join('')).toContain(`violation: ${v.invariant}`);
      const page = fs.readFileSync(path.join(dir, 'seed3.html'), 'utf8');
      expect(page).toBe(html.replace(`<title>seed ${SEED}</title>`, '<title>zab trace: seed3.jsonl</title>').replace(`<h1>seed ${SEED}</h1>`, '<h1>zab trace: seed3.jsonl</h1>'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
