/**
 * `zab ensemble`: a local ensemble for trying things out. Writes one zoo.cfg (and myid) per server
 * under --data-dir, starts one `zab server` child process each (logs in their directories), prints
 * each server's client address and, as it learns it by polling `status`, its role. Restarts nothing:
 * a child that dies unexpectedly stops the ensemble with a non-zero exit naming it and its log.
 * SIGINT/SIGTERM stop every server cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pino from 'pino';
import { AdminServer } from '../admin/admin-server.js';
import { ZabClient } from '../client/client.js';
import { parseZooCfg } from '../config/index.js';
import type { ServerStatus } from '../server/client-protocol.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

const HOST = '127.0.0.1';
const MAX_NODES = 15;

function intArg(what: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const s = v.trim();
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}, got '${v}'.`);
    return Number(s);
  };
}

export interface EnsemblePorts {
  client: number;
  quorum: number;
  election: number;
  admin: number;
}

/**
 * Ports of server i (1-based) from the base port: clients base+i-1, quorum base+100+i-1, election
 * base+200+i-1, admin (inspector, /status, /metrics) base+300+i-1.
 */
export function ensemblePorts(basePort: number, i: number): EnsemblePorts {
  return { client: basePort + i - 1, quorum: basePort + 100 + i - 1, election: basePort + 200 + i - 1, admin: basePort + 300 + i - 1 };
}

/** The ensemble's own inspector page (all servers side by side): base+299. */
export function ensembleAdminPort(basePort: number): number {
  return basePort + 299;
}

export interface EnsembleSettings {
  nodes: number;
  dataDir: string;
  basePort: number;
  tickTime: number;
  snapCount: number;
  /** logSegmentBytes of the generated zoo.cfg (default: the server's) */
  logSegmentBytes?: number;
  /** a server that dies is reported, the others keep running (exit code 3 at the end) */
  keepGoing?: boolean;
  /** give every server an admin port and serve the ensemble's inspector page */
  inspector?: boolean;
  /** stop when stdin closes (the program that started us is gone) */
  stopWithParent?: boolean;
}

/** The zoo.cfg text of server i of a local ensemble. */
export function ensembleZooCfg(s: EnsembleSettings, i: number): string {
  const lines = [
    '# Written by `zab ensemble` (regenerated on every start; edit the command line instead).',
    `tickTime=${s.tickTime}`,
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${path.join(s.dataDir, `server.${i}`)}`,
    'clusterId=zab-local',
    `snapCount=${s.snapCount}`,
    'snapRetainCount=3',
    'finalizeWaitMs=50',
    `electionTimeoutMs=${Math.max(1000, s.tickTime * 4)}`,
    'forceSync=yes',
  ];
  if (s.logSegmentBytes !== undefined) lines.push(`logSegmentBytes=${s.logSegmentBytes}`);
  for (let k = 1; k <= s.nodes; k++) {
    const p = ensemblePorts(s.basePort, k);
    lines.push(`server.${k}=${HOST}:${p.quorum}:${p.election}:participant;${HOST}:${p.client}`);
  }
  if (s.inspector) for (let k = 1; k <= s.nodes; k++) lines.push(`adminPort.${k}=${ensemblePorts(s.basePort, k).admin}`);
  return lines.join('\n') + '\n';
}

interface Member {
  id: number;
  dir: string;
  config: string;
  logFile: string;
  client: string;
  child: ChildProcess | null;
  exited: boolean;
  lastRole: string;
  poller: ZabClient | null;
}

export function registerEnsemble(program: Command, ctx: CliContext): void {
  program
    .command('ensemble')
    .summary('run a local ensemble of N servers (child processes) until Ctrl-C')
    .description(
      `Run a local ensemble on ${HOST}: writes <data-dir>/server.N/zoo.cfg and myid for each server, starts one \`zab server\` ` +
        'process per server (its log in <data-dir>/server.N/server.log), and prints each server\'s client address and its role ' +
        'as it changes. Existing data in <data-dir> is kept, so a restart recovers it. Nothing is restarted automatically.',
    )
    .addOption(new Option('-n, --nodes <n>', 'number of servers').argParser(intArg('--nodes', 1, MAX_NODES)).default(3))
    .addOption(new Option('-d, --data-dir <dir>', 'where configs, data and logs go').default('./data'))
    .addOption(new Option('-p, --base-port <port>', 'client port of server 1; quorum ports from base+100, election from base+200').argParser(intArg('--base-port', 1, 65535 - 300 - MAX_NODES)).default(2181))
    .addOption(new Option('--tick-time <ms>', 'tickTime of the generated zoo.cfg').argParser(intArg('--tick-time', 10, 60_000)).default(500))
    .addOption(new Option('--snap-count <n>', 'snapCount of the generated zoo.cfg (txns between snapshots)').argParser(intArg('--snap-count', 2, 100_000_000)).default(100_000))
    .addOption(new Option('--log-segment-bytes <n>', 'logSegmentBytes of the generated zoo.cfg (txn log segment size; old segments are purged whole)').argParser(intArg('--log-segment-bytes', 4096, 2 ** 31)))
    .option('--keep-going', 'when a server dies, report it and keep the others running (to watch failover); exit 3 at the end')
    .option('--no-inspector', 'no admin ports: no inspector page, /status or /metrics over HTTP')
    .addOption(new Option('--stop-with-parent', 'stop when stdin closes (for programs that run an ensemble)').hideHelp())
    .addHelpText(
      'after',
      `
Example:
  zab ensemble --nodes 3 --data-dir ./data --base-port 2181
  zab client --server 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 create /greeting hello
  open http://127.0.0.1:2480/     (the inspector: every server's statecharts, live; base port + 299)
  curl http://127.0.0.1:2481/metrics   (server 1's Prometheus metrics; server N: base + 300 + N - 1)

Exit codes: 0 stopped by Ctrl-C/SIGTERM; 3 a server died or could not start (the message names its log).`,
    )
    .action(async (opts: { nodes: number; dataDir: string; basePort: number; tickTime: number; snapCount: number; logSegmentBytes?: number; keepGoing?: boolean; inspector: boolean; stopWithParent?: boolean }) => {
      ctx.exitCode = await runEnsemble(ctx, { ...opts, dataDir: path.resolve(opts.dataDir) });
    });
}

async function runEnsemble(ctx: CliContext, s: EnsembleSettings): Promise<number> {
  const out = (line: string): void => ctx.io.out(line + '\n');
  const mainJs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const members: Member[] = [];
  for (let i = 1; i <= s.nodes; i++) {
    const dir = path.join(s.dataDir, `server.${i}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      const myid = path.join(dir, 'myid');
      if (fs.existsSync(myid) && fs.readFileSync(myid, 'utf8').trim() !== String(i)) {
        throw new CliError(`${myid} holds '${fs.readFileSync(myid, 'utf8').trim()}', not ${i}: ${dir} belongs to another server; use another --data-dir`, EXIT.ERROR);
      }
      fs.writeFileSync(myid, `${i}\n`);
      const text = ensembleZooCfg(s, i);
      const config = path.join(dir, 'zoo.cfg');
      parseZooCfg(text, config); // our own output must be valid
      fs.writeFileSync(config, text);
      const p = ensemblePorts(s.basePort, i);
      members.push({ id: i, dir, config, logFile: path.join(dir, 'server.log'), client: `${HOST}:${p.client}`, child: null, exited: false, lastRole: '', poller: null });
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(`cannot write the configuration under ${dir}: ${(e as Error).message} (choose a writable --data-dir)`, EXIT.ERROR);
    }
  }

  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  let stopping = false;
  let died = false;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let admin: AdminServer | null = null;

  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (pollTimer) clearInterval(pollTimer);
    await admin?.stop();
    await Promise.all(members.map((m) => m.poller?.close()));
    ctx.io.err(`zab: stopping ${members.filter((m) => !m.exited).length} server(s)...\n`);
    await Promise.all(
      members.map(
        (m) =>
          new Promise<void>((resolve) => {
            const c = m.child;
            if (!c || m.exited) return resolve();
            const kill = setTimeout(() => {
              ctx.io.err(`zab: server ${m.id} did not stop within 10 s; killing it\n`);
              c.kill('SIGKILL');
            }, 10_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    finish(code);
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    ctx.io.err(`zab: ${sig}: stopping the ensemble\n`);
    void stopAll(died ? EXIT.ERROR : EXIT.OK);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (s.stopWithParent) {
    let noticed = false;
    const gone = (): void => {
      if (noticed) return;
      noticed = true;
      ctx.io.err('zab: parent gone (stdin closed): stopping the ensemble\n');
      void stopAll(died ? EXIT.ERROR : EXIT.OK);
    };
    process.stdin.on('error', () => undefined);
    process.stdin.once('end', gone);
    process.stdin.once('close', gone);
    process.stdin.resume();
  }

  for (const m of members) {
    const fd = fs.openSync(m.logFile, 'a');
    const child = spawn(process.execPath, [mainJs, 'server', '--config', m.config, '--id', String(m.id), '--stop-with-parent'], {
      stdio: ['pipe', fd, fd],
    });
    fs.closeSync(fd);
    m.child = child;
    child.on('error', (err) => {
      ctx.io.err(`zab: error: cannot start server ${m.id}: ${err.message}\n`);
    });
    child.on('exit', (code, signal) => {
      m.exited = true;
      if (stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      ctx.io.err(`zab: error: server ${m.id} (pid ${child.pid}) ${how} unexpectedly; see its log: ${m.logFile}\n`);
      out(`server ${m.id}: died (${how}); log: ${m.logFile}`);
      died = true;
      if (!s.keepGoing) void stopAll(EXIT.ERROR);
      else if (members.every((x) => x.exited)) void stopAll(EXIT.ERROR);
    });
    out(`server ${m.id}: client ${m.client}  pid ${child.pid}  log ${m.logFile}`);
  }
  out(`clients: zab client --server ${members.map((m) => m.client).join(',')} create <path> <data>`);
  if (s.inspector) {
    const port = ensembleAdminPort(s.basePort);
    admin = new AdminServer({
      host: HOST,
      port,
      members: () => members.map((m) => ({ id: m.id, admin: `http://${HOST}:${ensemblePorts(s.basePort, m.id).admin}`, client: m.client })),
      logger: pino({ name: 'zab-ensemble', level: 'warn' }, pino.destination(2)),
      title: `zab inspector (${members.length}-server ensemble)`,
    });
    try {
      await admin.start();
      out(`inspector: http://${HOST}:${port}/  (each server also on its own admin port, with /status and /metrics)`);
    } catch (err) {
      ctx.io.err(`zab: warning: no inspector page: ${(err as Error).message}\n`);
      admin = null;
    }
  }

  let announcedReady = false;
  const poll = (m: Member): void => {
    if (stopping || m.exited) return;
    m.poller ??= new ZabClient({ servers: m.client, shuffle: false, requestTimeoutMs: 1500, connectTimeoutMs: 500, backoffMaxMs: 200 });
    m.poller.status().then(
      (st: ServerStatus) => {
        if (stopping) return;
        const role = st.role === 'following' ? `following ${st.leader}` : st.role;
        const desc = `${role} (${st.phase}), epoch ${st.epoch}`;
        if (desc !== m.lastRole) {
          m.lastRole = desc;
          out(`server ${m.id}: ${desc}  lastZxid ${st.lastZxid}`);
        }
        if (!announcedReady && members.every((x) => x.lastRole.includes('(broadcast)'))) {
          announcedReady = true;
          const leader = members.find((x) => x.lastRole.startsWith('leading'));
          out(`ensemble ready: ${members.length} server(s)${leader ? `, leader ${leader.id}` : ''}`);
        }
      },
      () => undefined, // not up yet; the next poll tries again
    );
  };
  pollTimer = setInterval(() => members.forEach(poll), 500);
  members.forEach(poll);

  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (code === EXIT.OK) ctx.io.err('zab: ensemble stopped\n');
  return code;
}
