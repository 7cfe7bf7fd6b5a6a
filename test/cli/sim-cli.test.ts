/** The compiled `zab` command, spawned as a user would: help, version, errors, a seed, a trace, --jobs. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceSeedToFile } from '../../src/sim/sim-command.js';
import { CLI, ensureBuilt, ROOT } from './cli-build.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function zab(...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

let tmp = '';

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-cli-'));
}, 180_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('zab', () => {
  it('--help lists the sim subcommand and exits 0', () => {
    const r = zab('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: zab/);
    expect(r.stdout).toMatch(/\bsim\b/);
    expect(r.stdout).toMatch(/Exit codes/);
  });

  it('sim --help shows the options and exits 0', () => {
    const r = zab('sim', '--help');
    expect(r.status).toBe(0);
    for (const opt of ['--seeds', '--seed', '--from', '--nodes', '--quorum', '--faults', '--txns', '--trace', '--jobs']) expect(r.stdout).toContain(opt);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = zab('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('exits 2 and names the problem on a bad option value', () => {
    const r = zab('sim', '--nodes', '2');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--nodes/);
    expect(r.stderr).toMatch(/between 3 and 15/);
    expect(r.stdout).toBe('');
  });

  it('exits 2 on an unknown subcommand, suggesting the right one', () => {
    const r = zab('simm');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'simm'/);
    expect(r.stderr).toMatch(/Did you mean sim/);
  });
});

describe('zab sim', () => {
  it('runs one seed: progress on stderr, a JSON summary as the last stdout line, exit 0', () => {
    const r = zab('sim', '--seed', '3', '--txns', '20');
    expect(r.stderr).toMatch(/\[sim\] seed 3 .*ok/);
    expect(r.status).toBe(0);
    const s = lastJson(r.stdout);
    for (const k of ['seeds', 'violations', 'committed', 'elections', 'faults', 'max_recovery_ms', 'wall_s', 'seeds_per_min', 'txns_per_wall_s', 'failing']) {
      expect(s).toHaveProperty(k);
    }
    expect(s.seeds).toBe(1);
    expect(s.violations).toBe(0);
    expect(s.failing).toEqual([]);
    expect(s.committed as number).toBeGreaterThanOrEqual(20);
    expect(s.elections as number).toBeGreaterThanOrEqual(1);
  });

  it('--seed S --trace FILE writes the JSONL trace, the same bytes as tracing the seed in-process', async () => {
    const file = path.join(tmp, 'seed3.jsonl');
    const r = zab('sim', '--seed', '3', '--txns', '20', '--trace', file);
    expect(r.status).toBe(0);
    expect(lastJson(r.stdout).trace).toBe(file);
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(100);
    for (const l of lines) expect(JSON.parse(l)).toHaveProperty('kind');
    // Seed 3 of the default 27 combinations is 3 nodes, weighted quorum, no faults.
    const again = path.join(tmp, 'again.jsonl');
    await traceSeedToFile({ seed: 3, nodes: 3, quorum: 'weighted', faults: 'none', txns: 20 }, again);
    expect(fs.readFileSync(again, 'utf8') === text).toBe(true);
  });

  it('--trace into a directory that does not exist fails before running, exit 2', () => {
    const r = zab('sim', '--seed', '1', '--trace', path.join(tmp, 'no/such/dir/t.jsonl'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
  });

  // No planted bug is needed to see the violation path: a recovery bound of 1 ms is rarely met after
  // heavy faults (a crashed server needs an election round to rejoin), so the Liveness check fails
  // for most seeds of this configuration. Which ones depends on the protocol code, so the test takes
  // whichever fail.
  const failing = ['--nodes', '3', '--quorum', 'majority', '--faults', 'heavy', '--txns', '10', '--min-fault-phase', '300', '--recovery-bound', '1'];
  let failingSeed = -1;

  it('on a violation: exit 1, the seed, invariant, step and time on stderr, the trace re-run written and verified', () => {
    const cwd = fs.mkdtempSync(path.join(tmp, 'violation-'));
    const r = spawnSync(process.execPath, [CLI, 'sim', '--seeds', '8', '--max-traces', '2', ...failing], { cwd, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    type Failing = { seed: number; invariant: string; step: number; time: number; trace?: string; reproduced?: boolean; replay: string };
    const s = lastJson(r.stdout) as { violations: number; seeds: number; failing: Failing[] };
    expect(s.seeds).toBe(8);
    expect(s.violations).toBeGreaterThanOrEqual(1);
    expect(s.failing).toHaveLength(s.violations);
    const f = s.failing[0]!;
    failingSeed = f.seed;
    expect(f).toMatchObject({ invariant: 'Liveness', reproduced: true, trace: `./zab-sim-seed-${f.seed}.trace.jsonl` });
    expect(f.replay).toBe(`zab sim --seed ${f.seed} --nodes 3 --quorum majority --faults heavy --txns 10 --min-fault-phase 300 --recovery-bound 1`);
    const escaped = (x: number): string => String(x).replace('.', '\\.');
    expect(r.stderr).toMatch(
      new RegExp(`VIOLATION: seed ${f.seed} \\(3 nodes, majority quorum, heavy faults\\): invariant Liveness violated at step ${f.step}, virtual time ${escaped(f.time)} ms`),
    );
    expect(r.stderr).toContain(`replay: ${f.replay}`);
    expect(r.stderr).toMatch(/the traced re-run hit the same invariant at the same step/);
    // The trace holds the violation, at the step and time reported.
    const lines = fs.readFileSync(path.join(cwd, `zab-sim-seed-${f.seed}.trace.jsonl`), 'utf8').trimEnd().split('\n');
    const v = lines.map((l) => JSON.parse(l) as { kind: string; invariant?: string; step: number; time?: number }).find((o) => o.kind === 'violation');
    expect(v).toMatchObject({ invariant: 'Liveness', step: f.step });
    expect(v!.time).toBeCloseTo(f.time, 3);
    // The default --trace has {seed}: each failing seed, up to --max-traces, gets its own file.
    const traced = s.failing.filter((x) => x.trace);
    expect(traced).toHaveLength(Math.min(2, s.violations));
    for (const x of traced) expect(fs.existsSync(path.join(cwd, `zab-sim-seed-${x.seed}.trace.jsonl`))).toBe(true);
  });

  it('--seed S --trace FILE on a failing seed traces the run itself, exit 1', () => {
    expect(failingSeed).toBeGreaterThan(0);
    const file = path.join(tmp, 'fail.jsonl');
    const r = zab('sim', '--seed', String(failingSeed), ...failing, '--trace', file);
    expect(r.status).toBe(1);
    const s = lastJson(r.stdout) as { failing: { trace: string; reproduced: boolean }[]; trace: string };
    expect(s.trace).toBe(file);
    expect(s.failing[0]).toMatchObject({ trace: file, reproduced: true });
    expect(fs.readFileSync(file, 'utf8')).toMatch(/"kind":"violation","invariant":"Liveness"/);
  });

  it('gives the same results with --jobs 2 as with --jobs 1', () => {
    const args = ['sim', '--seeds', '4', '--from', '22', '--nodes', '3', '--faults', 'light,heavy', '--txns', '10', '--min-fault-phase', '300', '-q'];
    const one = zab(...args, '--jobs', '1');
    const two = zab(...args, '--jobs', '2');
    expect(one.status).toBe(0);
    expect(two.status).toBe(0);
    const strip = (s: Record<string, unknown>): Record<string, unknown> => {
      const { wall_s: _w, seeds_per_min: _s, txns_per_wall_s: _t, jobs: _j, ...rest } = s;
      return rest;
    };
    const a = lastJson(one.stdout);
    const b = lastJson(two.stdout);
    expect(a.jobs).toBe(1);
    expect(b.jobs).toBe(2);
    expect(a.seeds).toBe(4);
    expect(strip(b)).toEqual(strip(a));
  });
});
