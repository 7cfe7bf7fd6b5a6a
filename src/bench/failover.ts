/**
 * Leader failover under a steady writer, the same procedure for ZooKeeper and for zab (bench:compare):
 *  1. the ensemble is settled (one leader, every other server follows it);
 *  2. a probe process (ZkFailoverProbe.java or zab-failover-probe.ts: same protocol) writes with one
 *     setData in flight, through a client that knows every server (`writer: all`, the anchor's kill
 *     procedure), only the followers (`writer: followers`, the anchor's SIGSTOP procedure), or every
 *     server in order with the leader first (`writer: leader`: the client's own failover is tested);
 *  3. after `before` seconds this process sends SIGKILL or SIGSTOP to the leader itself and tells the
 *     probe the instant; it polls the survivors every 20 ms for a new leader that serves;
 *  4. once writes succeed again (or after `timeoutS`), `after` more seconds of writing, then the probe
 *     reports its successful completion times; a frozen leader gets SIGCONT.
 * gap = the largest gap between consecutive successful writes from 1 s before the signal on, i.e. the
 * last write acknowledged before the outage -> the first acknowledged after it (the anchor's figure).
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { freeze, nowMs, sleep, spawnTracked, thaw } from './procs.js';

export type FailoverSignal = 'KILL' | 'STOP';

export interface LeaderInfo {
  /** 1-based server id (index in `servers` + 1) */
  id: number;
  pid: number;
  /** zab: the leader's epoch (the new leader must have a higher one); ZooKeeper: null */
  epoch: number | null;
}

/** What failover needs from a running ensemble of either system. */
export interface FailoverTarget {
  system: string;
  /** client addresses, index i = server i+1 */
  servers: string[];
  /** one leader serving and every other server following it */
  settled(): Promise<boolean>;
  leader(): Promise<LeaderInfo | null>;
  /** a server other than the old leader leads and serves clients */
  newLeaderServing(old: LeaderInfo): Promise<boolean>;
  /** the probe's command line for a writer that knows `servers` (ordered: tries them in this order, else at random) */
  probe(servers: string[], ordered: boolean): { cmd: string; args: string[] };
}

/**
 * Which servers the writer knows: all (in random order; the anchor's SIGKILL procedure), followers
 * (the anchor's SIGSTOP procedure), leader (all, in order, the leader first: it starts on the leader).
 */
export type WriterPlacement = 'all' | 'followers' | 'leader';
export const WRITER_PLACEMENTS: readonly WriterPlacement[] = ['all', 'followers', 'leader'];

export interface FailoverOptions {
  signal: FailoverSignal;
  writer: WriterPlacement;
  /** seconds of writing before the signal */
  before: number;
  /** seconds of writing after writes resumed */
  after: number;
  /** give up waiting for writes to resume after this many seconds */
  timeoutS: number;
}

export interface FailoverRep {
  system: string;
  signal: FailoverSignal;
  writer: WriterPlacement;
  killedLeader: number;
  /** the server the writer was connected to at the signal: L (the leader) or F */
  writerOn: string;
  /** null: writes did not resume within the timeout */
  gapMs: number | null;
  lastBeforeMs: number | null;
  firstAfterMs: number | null;
  /** signal -> the first write completed more than 50 ms after it */
  signalToFirstOkMs: number | null;
  /** signal -> a survivor leads and serves (polled every 20 ms) */
  signalToNewLeaderMs: number | null;
  errorsAfterSignal: number;
  errorKinds: Record<string, number>;
  /** ZooKeeper: the negotiated session timeout */
  sessionTimeoutMs: number | null;
  serverAtEnd: string;
}

export interface OutageGap {
  gapMs: number;
  lastBeforeMs: number;
  firstAfterMs: number;
}

/**
 * The outage from the completion times (ms relative to the signal, ascending) of successful writes:
 * the largest gap between consecutive ones from 1 s before the signal on. null if writes did not
 * resume (no success more than 50 ms after the signal: one in flight may still be acknowledged just after it).
 */
export function outageGap(okMs: readonly number[]): OutageGap | null {
  const xs = okMs.filter((t) => t >= -1000);
  if (!xs.some((t) => t > 50) || xs.length < 2) return null;
  let best: OutageGap | null = null;
  for (let i = 1; i < xs.length; i++) {
    const d = xs[i]! - xs[i - 1]!;
    if (best === null || d > best.gapMs) best = { gapMs: d, lastBeforeMs: xs[i - 1]!, firstAfterMs: xs[i]! };
  }
  const r = (v: number): number => Math.round(v * 10) / 10;
  return best && { gapMs: r(best.gapMs), lastBeforeMs: r(best.lastBeforeMs), firstAfterMs: r(best.firstAfterMs) };
}

/** A probe child with line-based stdout. */
class Probe {
  private lines: string[] = [];
  private waiters: (() => void)[] = [];
  private err = '';
  private exited = false;

  constructor(readonly child: ChildProcess) {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      this.lines.push(l);
      this.waiters.splice(0).forEach((w) => w());
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.err = (this.err + d.toString()).slice(-5000);
    });
    child.once('exit', () => {
      this.exited = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  find(prefix: string): string | undefined {
    return this.lines.find((l) => l.startsWith(prefix));
  }

  async waitFor(pred: (l: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const l = this.lines.find(pred);
      if (l !== undefined) return l;
      if (this.exited) throw new Error(`failover probe exited before ${what}: ${this.err.trim().slice(-1500)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`failover probe: no ${what} within ${Math.round(timeoutMs / 1000)} s: ${this.err.trim().slice(-1500)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

async function waitSettled(t: FailoverTarget, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await t.settled())) {
    if (Date.now() > end) throw new Error(`${t.system}: the ensemble did not settle (one leader, all others following) within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

export async function failoverRep(t: FailoverTarget, o: FailoverOptions, progress: (l: string) => void): Promise<FailoverRep> {
  await waitSettled(t, 120_000);
  await sleep(1000);
  const leader = await t.leader();
  if (!leader) throw new Error(`${t.system}: no leader`);
  const leaderAddr = t.servers[leader.id - 1]!;
  const followers = t.servers.filter((_, i) => i + 1 !== leader.id);
  const writerServers = o.writer === 'followers' ? followers : o.writer === 'leader' ? [leaderAddr, ...followers] : t.servers;
  const cmd = t.probe(writerServers, o.writer === 'leader');
  const probe = new Probe(spawnTracked(cmd.cmd, cmd.args));
  let frozenPid: number | null = null;
  try {
    const ready = await probe.waitFor((l) => l.startsWith('ready '), 40_000, '"ready"');
    const writerAt = ready.split(' ')[2] ?? '?';
    await sleep(o.before * 1000);
    const now = await t.leader();
    if (!now || now.id !== leader.id) throw new Error(`${t.system}: the leader changed on its own before the signal (${leader.id} -> ${now?.id ?? 'none'})`);

    const mark = nowMs();
    if (o.signal === 'STOP') {
      freeze(leader.pid);
      frozenPid = leader.pid;
    } else process.kill(leader.pid, 'SIGKILL');
    probe.send(`mark ${mark}`);
    progress(`${t.system}: SIG${o.signal} leader ${leader.id} (pid ${leader.pid}); writer on ${writerAt === leaderAddr ? 'the leader' : 'a follower'}`);

    let newLeaderAt: number | null = null;
    const deadline = mark + o.timeoutS * 1000;
    while (nowMs() < deadline) {
      if (newLeaderAt === null && (await t.newLeaderServing(leader).catch(() => false))) newLeaderAt = nowMs();
      if (newLeaderAt !== null && probe.find('resumed ')) break;
      await sleep(20);
    }
    const resumedLine = probe.find('resumed ');
    await sleep(o.after * 1000);
    probe.send('report');
    const reportLine = await probe.waitFor((l) => l.startsWith('{'), 15_000, 'report');
    if (frozenPid !== null) {
      thaw(frozenPid);
      frozenPid = null;
    }
    const rep = JSON.parse(reportLine) as {
      ok_ms: number[];
      errors_after_mark: number;
      error_kinds: Record<string, number>;
      session_timeout_ms: number | null;
      server_at_end: string;
    };
    const gap = outageGap(rep.ok_ms);
    const r: FailoverRep = {
      system: t.system,
      signal: o.signal,
      writer: o.writer,
      killedLeader: leader.id,
      writerOn: writerAt === leaderAddr ? 'L' : 'F',
      gapMs: gap?.gapMs ?? null,
      lastBeforeMs: gap?.lastBeforeMs ?? null,
      firstAfterMs: gap?.firstAfterMs ?? null,
      signalToFirstOkMs: resumedLine ? Math.round(Number(resumedLine.split(' ')[1]) - mark) : null,
      signalToNewLeaderMs: newLeaderAt === null ? null : Math.round(newLeaderAt - mark),
      errorsAfterSignal: rep.errors_after_mark,
      errorKinds: rep.error_kinds,
      sessionTimeoutMs: rep.session_timeout_ms,
      serverAtEnd: rep.server_at_end,
    };
    return r;
  } finally {
    if (frozenPid !== null) thaw(frozenPid);
    probe.kill();
  }
}
