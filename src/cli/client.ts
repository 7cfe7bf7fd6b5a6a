/**
 * `zab client --server host:port[,host:port...] <create|get|set|delete|ls|stat|sync|status> ...`: one
 * request (or one read per path), one JSON object per line on stdout; znode data as UTF-8 text. Exit
 * codes: 0 ok, 1 the request was answered with ZooKeeper's error (NoNode, NodeExists, BadVersion,
 * NotEmpty, BadArguments), 2 bad command line, 3 no server could answer.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ZabClient, ZabClientError } from '../client/client.js';
import { parseHostPorts, type ZnodeStat } from '../server/client-protocol.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

export function versionArg(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`VERSION must be a non-negative integer, got '${value}'.`);
  return Number(value.trim());
}

function msArg(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`expected a positive number of milliseconds, got '${value}'.`);
  return Number(value.trim());
}

export function serverListArg(value: string): string {
  try {
    parseHostPorts(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return value;
}

/** Errors that are the ensemble's answer to the request (exit 1), not a failure to get one (exit 3). */
const ANSWERED: ReadonlySet<string> = new Set(['NoNode', 'NodeExists', 'BadVersion', 'NotEmpty', 'BadArguments']);

const utf8 = new TextDecoder('utf-8');

interface ClientOpts {
  server: string;
  timeout: number;
}

/** Runs fn with a client over the servers; turns failures into one JSON line and an exit code. */
export async function withClient(
  ctx: CliContext,
  opts: ClientOpts,
  describe: Record<string, unknown>,
  fn: (client: ZabClient) => Promise<Record<string, unknown>[]>,
): Promise<void> {
  const client = new ZabClient({ servers: opts.server, requestTimeoutMs: opts.timeout, shuffle: false });
  try {
    const lines = await fn(client);
    for (const l of lines) ctx.io.out(JSON.stringify({ ok: true, ...describe, ...l }) + '\n');
    ctx.exitCode = EXIT.OK;
  } catch (err) {
    if (!(err instanceof ZabClientError)) throw err;
    ctx.io.out(
      JSON.stringify({ ok: false, ...describe, error: err.code, message: err.message, ...(err.zxid ? { zxid: err.zxid } : {}), ...(err.server ? { server: err.server } : {}) }) +
        '\n',
    );
    const answered = ANSWERED.has(err.code);
    if (!answered) ctx.io.err(`zab: error: ${err.message} (servers: ${opts.server}; are they running? is a quorum up?)\n`);
    ctx.exitCode = answered ? EXIT.FOUND : EXIT.ERROR;
  } finally {
    await client.close();
  }
}

export function registerClient(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('client')
    .summary('send requests to an ensemble (one JSON object per line on stdout)')
    .description(
      "Send one request to an ensemble's data tree (ZooKeeper's znodes). The client connects to the first server that answers and fails " +
        'over to the others. Every result is one JSON object on one line of stdout; znode data is UTF-8 text.',
    )
    .requiredOption('-s, --server <list>', 'host:port[,host:port...] client addresses of the servers', serverListArg)
    .addOption(new Option('--timeout <ms>', 'give up on the request after this long').argParser(msArg).default(10_000))
    // --server/--timeout go before the subcommand, so a subcommand may have its own -s (create -s).
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
Examples:
  zab client --server 127.0.0.1:2181 create /app hello
  zab client --server 127.0.0.1:2181 create -s /app/job- payload
  zab client --server 127.0.0.1:2181,127.0.0.1:2182 get --sync /app
  zab client --server 127.0.0.1:2181 set /app bonjour -v 0
  zab client --server 127.0.0.1:2181 ls /app
  zab client --server 127.0.0.1:2181 stat /app
  zab client --server 127.0.0.1:2181 delete /app/job-0000000000 -v 0

Exit codes: 0 ok; 1 the ensemble answered with an error (NoNode, NodeExists, BadVersion, NotEmpty, BadArguments);
2 bad command line; 3 no server answered.`,
    );
  const parent = (): ClientOpts => cmd.opts<ClientOpts>();

  cmd
    .command('create <path> [data]')
    .description('create a znode (data defaults to empty); prints its final path, stat and the txn zxid')
    .option('-s, --sequential', "append ZooKeeper's 10-digit sequence number (from the parent's cversion) to the name")
    .action(async (path: string, data: string | undefined, o: { sequential?: boolean }) => {
      await withClient(ctx, parent(), { op: 'create' }, async (c) => [
        { ...(await c.create(path, data ?? '', { sequential: o.sequential === true })), server: c.currentServer() },
      ]);
    });

  cmd
    .command('get <paths...>')
    .description("read znodes' data and stat from the connected server (one line per path)")
    .option('--sync', 'sync first, so the reads see every write committed before')
    .action(async (paths: string[], o: { sync?: boolean }) => {
      await withClient(ctx, parent(), { op: 'get' }, async (c) => {
        if (o.sync) await c.sync();
        const results = await Promise.all(paths.map((p) => c.getData(p)));
        return results.map((r) => ({ path: r.path, data: utf8.decode(r.data), stat: r.stat, zxid: r.zxid, server: c.currentServer() }));
      });
    });

  cmd
    .command('set <path> <data>')
    .description("set a znode's data (if -v is given: only if its version is VERSION)")
    .option('-v, --version <VERSION>', 'expected data version', versionArg)
    .action(async (path: string, data: string, o: { version?: number }) => {
      await withClient(ctx, parent(), { op: 'set' }, async (c) => [{ ...(await c.setData(path, data, o.version ?? -1)), server: c.currentServer() }]);
    });

  cmd
    .command('delete <path>')
    .description('delete a znode without children (if -v is given: only if its version is VERSION)')
    .option('-v, --version <VERSION>', 'expected data version', versionArg)
    .action(async (path: string, o: { version?: number }) => {
      await withClient(ctx, parent(), { op: 'delete' }, async (c) => [{ ...(await c.delete(path, o.version ?? -1)), server: c.currentServer() }]);
    });

  cmd
    .command('ls <path>')
    .description("a znode's children (sorted names)")
    .option('--sync', 'sync first')
    .action(async (path: string, o: { sync?: boolean }) => {
      await withClient(ctx, parent(), { op: 'ls' }, async (c) => {
        if (o.sync) await c.sync();
        return [{ ...(await c.getChildren(path)), server: c.currentServer() }];
      });
    });

  cmd
    .command('stat <path>')
    .description("a znode's stat (czxid, mzxid, pzxid, ctime, mtime, version, cversion, dataLength, numChildren, ...)")
    .option('--sync', 'sync first')
    .action(async (path: string, o: { sync?: boolean }) => {
      await withClient(ctx, parent(), { op: 'stat' }, async (c) => {
        if (o.sync) await c.sync();
        const r = await c.exists(path);
        if (!r.stat) throw new ZabClientError('NoNode', `stat ${path}: NoNode`, undefined, c.currentServer() ?? undefined);
        return [{ path: r.path, stat: r.stat satisfies ZnodeStat, zxid: r.zxid, server: c.currentServer() }];
      });
    });

  cmd
    .command('sync')
    .description('wait until the connected server has applied every write committed before')
    .action(async () => {
      await withClient(ctx, parent(), { op: 'sync' }, async (c) => [{ ...(await c.sync()), server: c.currentServer() }]);
    });

  cmd
    .command('status')
    .description("the connected server's status (role, epoch, zxids, ...)")
    .action(async () => {
      await withClient(ctx, parent(), { op: 'status' }, async (c) => [{ ...(await c.status()) }]);
    });
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .summary("print one server's status as one JSON object")
    .description("Ask one server for its status: id, role, phase, leader, epoch, last logged/committed/applied zxid, learners (leader), pid.")
    .requiredOption('-s, --server <host:port>', "the server's client address", serverListArg)
    .addOption(new Option('--timeout <ms>', 'give up after this long').argParser(msArg).default(5000))
    .action(async (opts: ClientOpts) => {
      if (parseHostPorts(opts.server).length !== 1) throw new CliError('status asks one server: give one host:port', EXIT.USAGE);
      const client = new ZabClient({ servers: opts.server, requestTimeoutMs: opts.timeout, shuffle: false, backoffMaxMs: 200 });
      try {
        const s = await client.status();
        ctx.io.out(JSON.stringify(s) + '\n');
      } catch (err) {
        if (!(err instanceof ZabClientError)) throw err;
        throw new CliError(`no status from ${opts.server}: ${err.message} (is the server running?)`, EXIT.ERROR);
      } finally {
        await client.close();
      }
    });
}
