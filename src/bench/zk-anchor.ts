/**
 * Apache ZooKeeper as the other side of `bench:compare`: an ensemble started with the anchor's
 * ensemble.sh (/work/shared/anchors/zookeeper, ZK_BASE in a fresh temp dir, ports from --zk-port-base)
 * and the anchor's Java load generator JavaBench (compiled on demand into a temp dir, run against
 * /usr/share/java/zookeeper.jar), plus a Java failover probe (src/bench/java/ZkFailoverProbe.java).
 *
 * The JVMs of ensemble.sh run in their own session (setsid), so neither Ctrl-C nor the death of this
 * process reaches them: ZkEnsemble.stop() stops them, and a detached watchdog shell stops them should
 * this process die without cleaning up (SIGKILL).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { portFree } from './free-ports.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

export const ZK_JAR_DIR = '/usr/share/java';
/** Classpath of the Java clients (JavaBench, the failover probe): as the anchor's run-throughput.sh. */
export const ZK_CLIENT_CP = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-nop.jar'].map((j) => path.join(ZK_JAR_DIR, j));
/** The jars ensemble.sh puts on the servers' classpath. */
const ZK_SERVER_JARS = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-log4j12.jar', 'log4j-1.2.jar'];

/** src/bench/java (from dist/src/bench or src/bench alike: the repository root is found by walking up) */
function javaSrcDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const cand = path.join(dir, 'src', 'bench', 'java');
    if (fs.existsSync(cand)) return cand;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find src/bench/java (the Java failover probe) above ' + path.dirname(fileURLToPath(import.meta.url)));
}

/** Ports of a ZooKeeper ensemble: client base+i, quorum base+700+i, election base+1700+i (i = 1..n), as the anchor's 2180/2880/3880. */
export function zkPorts(portBase: number, n: number): { client: number[]; quorum: number[]; election: number[] } {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  return { client: ids.map((i) => portBase + i), quorum: ids.map((i) => portBase + 700 + i), election: ids.map((i) => portBase + 1700 + i) };
}

export class PreflightError extends Error {
  override readonly name = 'PreflightError';
}

/**
 * Everything the ZooKeeper side needs, checked before anything starts; each failure says what to do.
 * Returns `java -version`'s first line.
 */
export async function zkPreflight(o: { anchorDir: string; portBase: number; maxNodes: number }): Promise<string> {
  let javaVersion = '';
  try {
    const r = await run('java', ['-version']);
    javaVersion = (r.stderr || r.stdout).split('\n')[0]!.trim();
  } catch {
    throw new PreflightError('`java` is not on PATH: install a JDK (run: apt-get install -y openjdk-17-jdk-headless), or use --systems zab');
  }
  try {
    await run('javac', ['-version']);
  } catch {
    throw new PreflightError('`javac` is not on PATH (a JRE alone is not enough: JavaBench is compiled on demand): run: apt-get install -y openjdk-17-jdk-headless');
  }
  for (const j of new Set([...ZK_CLIENT_CP.map((p) => path.basename(p)), ...ZK_SERVER_JARS])) {
    if (!fs.existsSync(path.join(ZK_JAR_DIR, j))) {
      throw new PreflightError(`${path.join(ZK_JAR_DIR, j)} is missing: ZooKeeper is not installed (run: apt-get install -y zookeeper), or use --systems zab`);
    }
  }
  for (const f of ['ensemble.sh', 'bench/JavaBench.java']) {
    if (!fs.existsSync(path.join(o.anchorDir, f))) throw new PreflightError(`${path.join(o.anchorDir, f)} is missing: point --anchor-dir at the ZooKeeper anchor directory`);
  }
  const p = zkPorts(o.portBase, o.maxNodes);
  for (const port of [...p.client, ...p.quorum, ...p.election]) {
    if (!(await portFree(port))) {
      throw new PreflightError(
        `port ${port} on ${HOST} is in use (ZooKeeper would use client ports ${p.client[0]}-${p.client.at(-1)}, quorum ${p.quorum[0]}-${p.quorum.at(-1)}, ` +
          `election ${p.election[0]}-${p.election.at(-1)}): stop whatever holds it (see: ss -ltnp 'sport = :${port}') or choose another --zk-port-base`,
      );
    }
  }
  return javaVersion;
}

/** Compiles JavaBench (from the anchor) and ZkFailoverProbe into a fresh temp dir; returns the class dir. */
export async function compileJavaClients(anchorDir: string, into: string): Promise<string> {
  const out = path.join(into, 'java');
  await fsp.mkdir(out, { recursive: true });
  const sources = [path.join(anchorDir, 'bench', 'JavaBench.java'), path.join(javaSrcDir(), 'ZkFailoverProbe.java')];
  try {
    await run('javac', ['-implicit:none', '-nowarn', '-d', out, '-cp', ZK_CLIENT_CP.join(':'), ...sources]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PreflightError(`javac failed on ${sources.join(', ')}:\n${err.stderr ?? err.message}`);
  }
  return out;
}

/** The first line of `srvr` (a four-letter word) parsed to the server's mode; 'down' when it does not answer within timeoutMs. */
export function zkMode(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    let buf = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      const m = /Mode: (\w+)/.exec(buf);
      resolve(m ? m[1]! : buf ? 'not-serving' : 'down');
    };
    const t = setTimeout(finish, timeoutMs);
    s.on('connect', () => s.write('srvr'));
    s.on('data', (d) => (buf += d.toString()));
    s.on('close', finish);
    s.on('error', finish);
  });
}

export interface ZkEnsembleOptions {
  nodes: number;
  tickTime: number;
  portBase: number;
  heap: string;
  anchorDir: string;
}

export class ZkEnsemble {
  private watchdogPid: number | null = null;
  private stopped = false;

  private constructor(
    readonly base: string,
    readonly o: ZkEnsembleOptions,
    readonly clientPorts: number[],
  ) {}

  get servers(): string[] {
    return this.clientPorts.map((p) => `${HOST}:${p}`);
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      ZK_BASE: this.base,
      ZK_TICK: String(this.o.tickTime),
      ZK_FORCESYNC: 'yes',
      ZK_HEAP: this.o.heap,
      ZK_CLIENT_PORT_BASE: String(this.o.portBase),
      ZK_PEER_PORT_BASE: String(this.o.portBase + 700),
      ZK_ELECT_PORT_BASE: String(this.o.portBase + 1700),
    };
  }

  private script(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run('bash', [path.join(this.o.anchorDir, 'ensemble.sh'), ...args], { env: this.env(), timeout: 180_000 });
  }

  /** A fresh ensemble in a new temp dir; resolves once a leader serves and every other server follows it. */
  static async start(o: ZkEnsembleOptions): Promise<ZkEnsemble> {
    const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'zk-compare-'));
    const ens = new ZkEnsemble(base, o, zkPorts(o.portBase, o.nodes).client);
    ens.startWatchdog();
    try {
      await ens.script('start', String(o.nodes));
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      await ens.stop();
      throw new Error(`ZooKeeper ensemble did not start: ${(err.stderr || err.stdout || err.message).trim().slice(-1500)} (server logs were in ${base}/zk*/zookeeper.log)`);
    }
    return ens;
  }

  /** Stops the ensemble even if this process is SIGKILLed: a detached shell waits for our pid to go away. */
  private startWatchdog(): void {
    const sh = path.join(this.o.anchorDir, 'ensemble.sh');
    const child = spawn(
      'bash',
      ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; for f in "$3"/zk*/pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null; done; bash "$2" stop >/dev/null 2>&1; rm -rf "$3"', 'zk-watchdog', String(process.pid), sh, this.base],
      { detached: true, stdio: 'ignore', env: this.env() },
    );
    child.unref();
    this.watchdogPid = child.pid ?? null;
  }

  pids(): number[] {
    return this.clientPorts.map((_, i) => Number(fs.readFileSync(path.join(this.base, `zk${i + 1}`, 'pid'), 'utf8').trim()));
  }

  /** Mode of each server (index i = server i+1): leader, follower, down, not-serving. */
  modes(timeoutMs = 1000): Promise<string[]> {
    return Promise.all(this.clientPorts.map((p) => zkMode(p, timeoutMs)));
  }

  /** True once a server other than `exclude` says (srvr) that it leads: the new leader is serving clients. */
  async newLeaderServing(exclude: number): Promise<boolean> {
    const ports = this.clientPorts.filter((_, i) => i + 1 !== exclude);
    const modes = await Promise.all(ports.map((p) => zkMode(p, 300)));
    return modes.includes('leader');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // a frozen (SIGSTOPped) JVM would not act on SIGTERM
    for (let i = 1; i <= this.o.nodes; i++) {
      try {
        const pid = Number(fs.readFileSync(path.join(this.base, `zk${i}`, 'pid'), 'utf8').trim());
        if (pid > 0 && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${this.base}/zk${i}/zoo.cfg`)) process.kill(pid, 'SIGCONT');
      } catch {
        /* not running */
      }
    }
    try {
      await this.script('stop');
    } catch {
      /* nothing recorded */
    }
    if (this.watchdogPid !== null) {
      try {
        process.kill(this.watchdogPid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    await fsp.rm(this.base, { recursive: true, force: true });
  }
}
