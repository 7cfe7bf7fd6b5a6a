/**
 * The `zab` program: global options and the subcommands. Each subcommand lives in its own module
 * and registers itself (see COMMANDS); runCli() parses, runs, and turns the outcome into an exit
 * code (see EXIT in errors.ts) instead of exiting, so tests can run it in-process.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './errors.js';
import { processIo, type CliIo } from './io.js';
import { registerSim } from './sim.js';
import { registerServer } from './server.js';
import { registerEnsemble } from './ensemble.js';
import { registerClient, registerStatus } from './client.js';
import { registerStatecharts } from './statecharts.js';
import { registerTrace } from './trace.js';
import { registerBench } from './bench.js';
import { packageVersion } from './version.js';

export interface CliContext {
  io: CliIo;
  /** what the action decided; runCli returns it */
  exitCode: number;
}

/** Adds one subcommand to the program (use `program.command(name)`, so it inherits the output and error settings). */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** The subcommands, in the order `zab --help` lists them. Add a command by appending its register function. */
export const COMMANDS: RegisterCommand[] = [registerSim, registerServer, registerEnsemble, registerClient, registerStatus, registerStatecharts, registerTrace, registerBench];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('zab')
    .description('Zab (ZooKeeper atomic broadcast) in TypeScript: tools for the simulator and servers')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help (every subcommand has --help too)')
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Exit codes:
  0  success
  1  the command found a problem (zab sim: an invariant violation)
  2  bad command line (unknown option, invalid or conflicting values)
  3  the command could not do its work (a file could not be written, a worker died)`,
    );
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

/** Runs the command line `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const ctx: CliContext = { io, exitCode: EXIT.OK };
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; commander already printed everything else.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof CliError) {
      io.err(`zab: error: ${err.message}\n`);
      return err.exitCode;
    }
    io.err(`zab: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.ERROR;
  }
}
