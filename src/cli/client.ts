/**
 * `zab client --server host:port[,host:port...] <put|get|cas|delete|sync|status> ...`: one request (or
 * one get per key), one JSON object per line on stdout. Exit codes: 0 ok, 1 the request was answered
 * with a failed condition (BadVersion, NoNode), 2 bad command line, 3 no server could answer.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ZabClient, ZabClientError } from '../client/client.js';
import { parseHostPorts } from '../server/client-protocol.js';
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
    const answered = err.code === 'BadVersion' || err.code === 'NoNode';
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
      'Send one request to an ensemble. The client connects to the first server that answers and fails over to the others. ' +
        'Every result is one JSON object on one line of stdout.',
    )
    .requiredOption('-s, --server <list>', 'host:port[,host:port...] client addresses of the servers', serverListArg)
    .addOption(new Option('--timeout <ms>', 'give up on the request after this long').argParser(msArg).default(10_000))
    .addHelpText(
      'after',
      `
Examples:
  zab client --server 127.0.0.1:2181 put color red
  zab client --server 127.0.0.1:2181,127.0.0.1:2182 get color
  zab client --server 127.0.0.1:2181 cas color blue -v 1
  zab client --server 127.0.0.1:2181 delete color -v 2

Exit codes: 0 ok; 1 a condition failed (BadVersion, NoNode); 2 bad command line; 3 no server answered.`,
    );
  const parent = (): ClientOpts => cmd.opts<ClientOpts>();

  cmd
    .command('put <key> <value>')
    .description('set key to value (unconditionally); prints the txn zxid and the new version')
    .action(async (key: string, value: string) => {
      await withClient(ctx, parent(), { op: 'put', key }, async (c) => [{ ...(await c.put(key, value)), server: c.currentServer() }]);
    });

  cmd
    .command('get <keys...>')
    .description("read keys from the connected server's state (one line per key; value null when absent)")
    .option('--sync', 'sync first, so the reads see every write committed before')
    .action(async (keys: string[], o: { sync?: boolean }) => {
      await withClient(ctx, parent(), { op: 'get' }, async (c) => {
        if (o.sync) await c.sync();
        const results = await Promise.all(keys.map((k) => c.get(k)));
        return results.map((r) => ({ ...r, server: c.currentServer() }));
      });
    });

  cmd
    .command('cas <key> <value>')
    .description('set key to value if its version is VERSION (0: only if the key does not exist)')
    .requiredOption('-v, --expected-version <VERSION>', 'expected version', versionArg)
    .action(async (key: string, value: string, o: { expectedVersion: number }) => {
      await withClient(ctx, parent(), { op: 'cas', key }, async (c) => [{ ...(await c.cas(key, o.expectedVersion, value)), server: c.currentServer() }]);
    });

  cmd
    .command('delete <key>')
    .description('delete key (if -v is given: only if its version is VERSION)')
    .option('-v, --expected-version <VERSION>', 'expected version', versionArg)
    .action(async (key: string, o: { expectedVersion?: number }) => {
      await withClient(ctx, parent(), { op: 'delete', key }, async (c) => [{ ...(await c.delete(key, o.expectedVersion)), server: c.currentServer() }]);
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
