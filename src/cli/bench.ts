/**
 * `zab bench`: a closed-loop load generator against an ensemble (--servers) or a local ensemble it
 * starts and stops itself (--local N). Progress on stderr; one JSON object as the last stdout line.
 * The logic is in src/bench/load.ts.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { runLoad, type LoadOptions } from '../bench/load.js';
import { serverListArg } from './client.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

function intArg(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v.trim());
    if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got '${v}'.`);
    return n;
  };
}

/** What commander hands us: LoadOptions, with --servers / --local absent rather than null. */
type BenchCliOptions = Omit<LoadOptions, 'servers' | 'local'> & { servers?: string; local?: number };

export function registerBench(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .summary('closed-loop load generator: ops/s, latency, server and generator CPU (one JSON line)')
    .description(
      'Drive an ensemble with C clients, each pinned to one server (followers first) and keeping K requests in flight, ' +
        'the way the ZooKeeper anchor (bench.mjs) does. Counts completions in the measured window after the warm-up; reports ' +
        "ops/s, latency percentiles, each server process's CPU (/proc/<pid>/stat, pids from `status`; local servers only), " +
        "and the generator's own CPU and event-loop utilisation. Progress on stderr; the last stdout line is one JSON object.",
    )
    .option('-s, --servers <list>', 'host:port[,host:port...] client addresses of a running ensemble', serverListArg)
    .addOption(new Option('--local <n>', 'start a local ensemble of N servers in a temp dir, and stop it afterwards').argParser(intArg('--local', 1, 9)))
    .addOption(new Option('--tick-time <ms>', 'tickTime of the --local ensemble').argParser(intArg('--tick-time', 10, 60_000)).default(500))
    .addOption(new Option('--op <op>', 'set: setData; get: getData; mixed: alternately get and set; create: sequential creates').choices(['set', 'create', 'get', 'mixed']).default('set'))
    .addOption(new Option('--size <bytes>', 'value size').argParser(intArg('--size', 0, 1 << 20)).default(100))
    .addOption(new Option('--clients <n>', 'clients (connections), each pinned to one server').argParser(intArg('--clients', 1, 10_000)).default(1))
    .addOption(new Option('--outstanding <k>', 'requests in flight per client').argParser(intArg('--outstanding', 1, 100_000)).default(1))
    .addOption(new Option('--seconds <s>', 'measured window').argParser(intArg('--seconds', 1, 86_400)).default(10))
    .addOption(new Option('--warmup <s>', 'seconds of load before the window (not counted)').argParser(intArg('--warmup', 0, 86_400)).default(2))
    .addHelpText(
      'after',
      `
Examples:
  zab bench --local 3 --op set --clients 4 --outstanding 64 --seconds 10 --warmup 2
  zab bench --servers 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 --op get --clients 3 --outstanding 16`,
    )
    .action(async (o: BenchCliOptions) => {
      if ((o.servers === undefined) === (o.local === undefined)) throw new CliError('give exactly one of --servers <list> and --local <n>.');
      let result;
      try {
        result = await runLoad(
          {
            servers: o.servers ?? null,
            local: o.local ?? null,
            tickTime: o.tickTime,
            op: o.op,
            size: o.size,
            clients: o.clients,
            outstanding: o.outstanding,
            seconds: o.seconds,
            warmup: o.warmup,
          },
          (line) => ctx.io.err(`[zab bench] ${line}\n`),
        );
      } catch (e) {
        throw new CliError(`bench failed: ${e instanceof Error ? e.message : String(e)}`, EXIT.ERROR);
      }
      ctx.io.out(JSON.stringify(result) + '\n');
      ctx.exitCode = EXIT.OK;
    });
}
