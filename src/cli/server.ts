/**
 * `zab server --config zoo.cfg [--id N]`: runs one server in the foreground until SIGINT/SIGTERM.
 * Logs are pino JSON lines on stderr. Exit codes: 0 after a clean stop, 2 bad command line or config,
 * 3 the server could not start or failed while running.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError, loadZooCfg, readMyId } from '../config/index.js';
import { DataDirError } from '../server/data-dirs.js';
import { ZabServer } from '../server/server.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

function idArg(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`--id must be a server id (a non-negative integer), got '${value}'.`);
  return Number(value.trim());
}

export function registerServer(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .summary('run one server of an ensemble (foreground; Ctrl-C stops it cleanly)')
    .description(
      'Run one Zab server: reads the ensemble from a ZooKeeper-style zoo.cfg, opens dataDir (snapshots, epochs, myid) and ' +
        'dataLogDir (txn log), joins the ensemble over TCP and serves clients on its client port. Logs are JSON lines on stderr.',
    )
    .requiredOption('-c, --config <file>', 'zoo.cfg of the ensemble')
    .addOption(new Option('--id <n>', "this server's id, the N of its server.N line (default: the myid file in dataDir)").argParser(idArg))
    .option('--stately-inspector <ws-url>', "also send XState inspection events to a Stately inspector at this WebSocket URL (e.g. ws://127.0.0.1:8080); the built-in page on adminPort.N needs none")
    .addOption(new Option('--stop-with-parent', 'stop when stdin closes (used by zab ensemble, so servers never outlive it)').hideHelp())
    .addHelpText(
      'after',
      `
Example:
  zab server --config data/server.1/zoo.cfg
  zab server --config zoo.cfg --id 2

Signals: SIGINT/SIGTERM close the client port, the peer connections and the log, then exit 0.`,
    )
    .action(async (opts: { config: string; id?: number; stopWithParent?: boolean; statelyInspector?: string }) => {
      ctx.exitCode = await runServer(opts);
    });
}

async function runServer(opts: { config: string; id?: number; stopWithParent?: boolean; statelyInspector?: string }): Promise<number> {
  let server: ZabServer;
  try {
    const config = await loadZooCfg(opts.config);
    for (const w of config.warnings) process.stderr.write(`zab: warning: ${w}\n`);
    const id = opts.id ?? (await readMyId(config.dataDir));
    server = new ZabServer({ config, id, ...(opts.statelyInspector ? { statelyInspector: opts.statelyInspector } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.USAGE);
    throw err;
  }

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping = false;
  const stop = (code: number, why: string): void => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ why }, 'stopping');
    const force = setTimeout(() => {
      server.logger.error('clean stop took over 10 s; exiting anyway');
      process.exit(code || EXIT.ERROR);
    }, 10_000);
    force.unref();
    void server.stop().then(
      () => resolveDone(code),
      () => resolveDone(EXIT.ERROR),
    );
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(EXIT.OK, sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (opts.stopWithParent) {
    process.stdin.on('error', () => undefined);
    process.stdin.on('close', () => stop(EXIT.OK, 'parent gone (stdin closed)'));
    process.stdin.on('end', () => stop(EXIT.OK, 'parent gone (stdin closed)'));
    process.stdin.resume();
  }
  server.fatal$.subscribe((err) => {
    server.logger.fatal({ err }, 'protocol failure; stopping (restart the server; report this with the log)');
    stop(EXIT.ERROR, 'fatal');
  });

  try {
    await server.start();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    server.logger.fatal({ err }, 'server failed to start');
    await server.stop().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (err instanceof ConfigError) throw new CliError(msg, EXIT.USAGE);
    if (err instanceof DataDirError) throw new CliError(msg, EXIT.ERROR);
    throw new CliError(`server ${server.id} could not start: ${msg}`, EXIT.ERROR);
  }
  const addr = server.clientAddress();
  process.stderr.write(`zab: server ${server.id} running (pid ${process.pid}${addr ? `, clients on ${addr.host}:${addr.port}` : ''})\n`);
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  // Anything left holding the event loop open (a socket in TIME_WAIT teardown) must not keep us alive.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}
