/**
 * Determinism: the same seed gives a byte-identical trace; another seed gives another one.
 *
 * Traces are compared as `zab sim --trace` writes them: XState's ids for actors created without one
 * (`x:<n>`) come from a counter global to the process, so they are renamed per run (see
 * actorIdNormalizer); everything else in the trace must match byte for byte.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSeed, type SimOptions, type SimResult } from '../../src/sim/cluster.js';
import { actorIdNormalizer, traceSeedToFile } from '../../src/sim/sim-command.js';

async function traced(options: SimOptions): Promise<{ result: SimResult; trace: string; raw: string; lines: number }> {
  const raw: string[] = [];
  const normalize = actorIdNormalizer();
  const result = await runSeed({ ...options, trace: (l) => raw.push(l) });
  return { result, raw: raw.join('\n'), trace: raw.map(normalize).join('\n'), lines: raw.length };
}

describe('replay', () => {
  const base: SimOptions = { seed: 7, nodes: 3, quorum: 'majority', faults: 'heavy', txns: 20, clients: 2, minFaultPhaseMs: 600 };

  it('a seed run twice with tracing on gives byte-identical traces and the same result', async () => {
    const a = await traced(base);
    const b = await traced(base);
    expect(a.result.ok).toBe(true);
    expect(a.result.faultsInjected).toBeGreaterThan(0); // the trace covers faults, not just a quiet run
    expect(a.lines).toBeGreaterThan(1000);
    expect(b.lines).toBe(a.lines);
    expect(b.trace === a.trace).toBe(true); // not toEqual: a multi-megabyte diff helps nobody
    expect(b.result).toEqual(a.result);
    // Every line is one JSON object with the virtual time, the step and a kind.
    for (const line of a.trace.split('\n').slice(0, 500)) {
      const obj = JSON.parse(line) as { t: unknown; step: unknown; kind: unknown };
      expect(typeof obj.t).toBe('number');
      expect(typeof obj.step).toBe('number');
      expect(typeof obj.kind).toBe('string');
    }
  });

  it('the trace files written for the same seed are byte-identical', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-replay-'));
    try {
      const a = await traceSeedToFile(base, path.join(dir, 'a.jsonl'));
      const b = await traceSeedToFile(base, path.join(dir, 'b.jsonl'));
      expect(b.lines).toBe(a.lines);
      expect(b.bytes).toBe(a.bytes);
      expect(fs.readFileSync(b.file).equals(fs.readFileSync(a.file))).toBe(true);
      expect(b.result).toEqual(a.result);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tracing does not change the run', async () => {
    const plain = await runSeed(base);
    const withTrace = await traced(base);
    expect(withTrace.result).toEqual(plain);
  });

  it('another seed gives another trace', async () => {
    const a = await traced(base);
    const b = await traced({ ...base, seed: 8 });
    expect(b.trace === a.trace).toBe(false);
  });
});
