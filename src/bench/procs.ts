/**
 * Process bookkeeping for bench:compare: every child process, ensemble and frozen (SIGSTOPped) pid
 * is registered here, so that `cleanupAll()` (on normal exit, on failure, on SIGINT/SIGTERM) can
 * thaw, stop and kill exactly what this run started, and nothing else.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-ms resolution (comparable with Java's Instant.now() in the probe). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface Stoppable {
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
const ensembles = new Set<Stoppable>();
const frozen = new Set<number>();

export function track<T extends Stoppable>(e: T): T {
  ensembles.add(e);
  return e;
}

export async function untrackAndStop(e: Stoppable): Promise<void> {
  thawAll();
  try {
    await e.stop();
  } finally {
    ensembles.delete(e);
  }
}

/** SIGSTOP a pid, remembering it so that cleanup sends SIGCONT. */
export function freeze(pid: number): void {
  frozen.add(pid);
  process.kill(pid, 'SIGSTOP');
}

export function thaw(pid: number): void {
  if (!frozen.delete(pid)) return;
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    /* already gone */
  }
}

export function thawAll(): void {
  for (const pid of [...frozen]) thaw(pid);
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

function killChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      resolve();
    }, 3000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/**
 * Runs a child to completion; resolves with the JSON object on its last non-empty stdout line.
 * Rejects (with the tail of its stderr) on a non-zero exit, on a timeout (the child is killed) or on
 * an unparsable last line.
 */
export function runJsonChild(cmd: string, args: string[], timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
    });
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      void killChild(c);
    }, timeoutMs);
    c.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(`${what}: cannot start ${cmd}: ${e.message}`));
    });
    c.once('close', (code, signal) => {
      clearTimeout(t);
      const tail = err.trim().split('\n').slice(-15).join('\n');
      if (timedOut) return reject(new Error(`${what}: no result within ${Math.round(timeoutMs / 1000)} s; killed. stderr:\n${tail}`));
      if (code !== 0) return reject(new Error(`${what}: exited with ${signal ?? `code ${code}`}. stderr:\n${tail}`));
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`${what}: last stdout line is not JSON: ${last.slice(0, 300)}`));
      }
    });
  });
}

let cleaning: Promise<void> | null = null;

/** Thaws frozen pids, kills child processes, stops ensembles. Idempotent. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    thawAll();
    await Promise.all([...children].map(killChild));
    await Promise.all(
      [...ensembles].map(async (e) => {
        try {
          await e.stop();
        } catch {
          /* best effort */
        }
        ensembles.delete(e);
      }),
    );
  })();
  return cleaning;
}

/** On SIGINT/SIGTERM: clean up, then exit 130/143. */
export function installSignalCleanup(progress: (line: string) => void): void {
  const on = (sig: NodeJS.Signals, code: number): void => {
    process.once(sig, () => {
      progress(`${sig}: stopping every process this run started...`);
      // a second Ctrl-C while cleaning up: leave at once
      process.once(sig, () => process.exit(code));
      void cleanupAll().finally(() => process.exit(code));
    });
  };
  on('SIGINT', 130);
  on('SIGTERM', 143);
}
