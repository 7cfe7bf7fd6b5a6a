/** The command line parsed in-process: option parsing, conflicts, exit codes (no seeds run here). */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { parseFaults, parseNodes, parseQuorums } from '../../src/cli/sim.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('option parsers', () => {
  it('--nodes takes a count, a list, a range, or a mix; sorted, without duplicates', () => {
    expect(parseNodes('5')).toEqual([5]);
    expect(parseNodes('7,3,5')).toEqual([3, 5, 7]);
    expect(parseNodes('3..9')).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(parseNodes('3,5..6,5')).toEqual([3, 5, 6]);
  });

  it('--nodes rejects what it cannot run, saying why', () => {
    expect(() => parseNodes('2')).toThrow(/between 3 and 15/);
    expect(() => parseNodes('16')).toThrow(/between 3 and 15/);
    expect(() => parseNodes('9..3')).toThrow(/smaller count first/);
    expect(() => parseNodes('3,,5')).toThrow(/empty item/);
    expect(() => parseNodes('five')).toThrow(/whole number/);
  });

  it('--quorum and --faults take names, lists and all, in canonical order', () => {
    expect(parseQuorums('all')).toEqual(['majority', 'weighted', 'hierarchical']);
    expect(parseQuorums('hierarchical,majority')).toEqual(['majority', 'hierarchical']);
    expect(parseFaults('all')).toEqual(['none', 'light', 'heavy']);
    expect(parseFaults('Heavy,light')).toEqual(['light', 'heavy']);
    expect(() => parseQuorums('raft')).toThrow(/unknown quorum system 'raft'.*majority, weighted, hierarchical/);
    expect(() => parseFaults('medium')).toThrow(/unknown fault level 'medium'/);
  });
});

describe('runCli', () => {
  it('--help and sim --help exit 0', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/sim/);
    const sim = await cli('sim', '--help');
    expect(sim.code).toBe(0);
    expect(sim.out).toMatch(/--seeds <n>/);
  });

  it('no arguments: help on stderr, exit 2', async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Usage: zab/);
  });

  it('--seed conflicts with --seeds and --from', async () => {
    const a = await cli('sim', '--seed', '1', '--seeds', '5');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--seed <s>' cannot be used with option '--seeds/);
    const b = await cli('sim', '--seed', '1', '--from', '5');
    expect(b.code).toBe(2);
  });

  it('bad numbers exit 2 with the option named', async () => {
    for (const argv of [['sim', '--seeds', '0'], ['sim', '--txns', '-1'], ['sim', '--jobs', 'two'], ['sim', '--seed', '1.5']]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain(argv[1]!);
    }
  });

  it('--from + --seeds past 2^53 is refused', async () => {
    const r = await cli('sim', '--from', String(Number.MAX_SAFE_INTEGER), '--seeds', '2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/2\^53/);
  });
});
