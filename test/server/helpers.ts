/** Helpers for the process-level server tests: build check, free ports, a `zab ensemble` child, polling. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZabClient, ZabClientError } from '../../src/client/client.js';
import type { ServerStatus } from '../../src/server/client-protocol.js';
import { freeBasePort } from '../../src/bench/free-ports.js';

export { freeBasePort };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** `npm test` builds first; when these tests run alone and dist/ is stale, build it here. */
export function ensureBuilt(): void {
  const src = Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'machines')));
  if (fs.existsSync(CLI) && fs.statSync(CLI).mtimeMs >= src) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
}

export const clientAddr = (base: number, i: number): string => `127.0.0.1:${base + i - 1}`;

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000, stepMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** One status request to one server (throws if it does not answer). */
export async function statusOf(addr: string): Promise<ServerStatus> {
  const c = new ZabClient({ servers: addr, shuffle: false, requestTimeoutMs: 1500, connectTimeoutMs: 500, backoffMaxMs: 100 });
  try {
    return await c.status();
  } finally {
    await c.close();
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A spawned `zab ...` process with its output collected. */
export class ZabProc {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], cwd: string) {
    this.proc = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  waitForOutput(re: RegExp, ms = 60_000): Promise<string> {
    return waitUntil(`output ${re} (stdout so far: ${JSON.stringify(this.stdout.slice(-2000))}, stderr: ${JSON.stringify(this.stderr.slice(-2000))})`, () => re.exec(this.stdout)?.[0], ms, 50);
  }

  async terminate(ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

export function startEnsemble(dataDir: string, base: number, nodes: number, extra: string[] = []): ZabProc {
  return new ZabProc(['ensemble', '--nodes', String(nodes), '--data-dir', dataDir, '--base-port', String(base), ...extra], path.dirname(dataDir));
}

/** Reads every znode (after a sync) from one server; returns path -> data as UTF-8 (null when absent). */
export async function readAll(addr: string, paths: readonly string[]): Promise<Map<string, string | null>> {
  const c = new ZabClient({ servers: addr, shuffle: false, requestTimeoutMs: 10_000 });
  try {
    await c.sync();
    const results = await Promise.all(
      paths.map((p) =>
        c.getData(p).then(
          (r) => [p, Buffer.from(r.data).toString('utf8')] as const,
          (err: unknown) => {
            if (err instanceof ZabClientError && err.code === 'NoNode') return [p, null] as const;
            throw err;
          },
        ),
      ),
    );
    return new Map(results);
  } finally {
    await c.close();
  }
}
