/**
 * `zab bench --local 3`: the load generator starts its own ensemble, drives it for a short window,
 * stops it, and prints one JSON object as its last stdout line. Only the shape and sanity of the
 * result are checked (no timing assertions).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../cli/cli-build.js';

const run = promisify(execFile);

describe('zab bench', () => {
  beforeAll(() => ensureBuilt());

  it('drives a local ensemble and reports ops, latency and CPU as one JSON line', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [CLI, 'bench', '--local', '3', '--seconds', '2', '--warmup', '1', '--clients', '2', '--outstanding', '4'],
      { cwd: ROOT, timeout: 40_000 },
    );
    const last = stdout.trim().split('\n').at(-1)!;
    const r = JSON.parse(last) as Record<string, unknown> & {
      latency_ms: Record<string, unknown>;
      servers: { pid: number; cpu_s: number | null }[];
      generator: Record<string, unknown>;
    };
    expect(r.op).toBe('set');
    expect(r.ops).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    for (const k of ['seconds', 'ops_per_sec']) expect(typeof r[k]).toBe('number');
    for (const k of ['p50', 'p99', 'p999', 'max']) expect(typeof r.latency_ms[k]).toBe('number');
    expect(r.servers).toHaveLength(3);
    for (const s of r.servers) {
      expect(s.pid).toBeGreaterThan(0);
      expect(typeof s.cpu_s).toBe('number');
    }
    expect(typeof r.generator.cpu_s).toBe('number');
    expect(typeof r.generator.event_loop_util).toBe('number');
    expect(typeof r.generator_bound).toBe('boolean');
    expect(r.placement).toBe('FF');
    expect(stderr).toMatch(/measuring/);
  }, 45_000);

  it('rejects giving both --servers and --local', async () => {
    await expect(run(process.execPath, [CLI, 'bench', '--local', '3', '--servers', '127.0.0.1:1'], { cwd: ROOT })).rejects.toMatchObject({ code: 2 });
  });
});
