#!/usr/bin/env node
/**
 * The zab side of bench:compare's failover probe: the twin of src/bench/java/ZkFailoverProbe.java
 * (same options, same stdin/stdout protocol; see there). One ZabClient with every given server in its
 * list (random order), one setData(version -1) in flight; a failed write is re-issued after 1 ms.
 *
 *   node dist/src/bench/zab-failover-probe.js --servers h:p,h:p [--size 100] [--request-timeout ms] [--ordered yes]
 * (--ordered yes: try the servers in the order given instead of a random one)
 *
 * The client has no keep-alive: it leaves a server that answers nothing only when a request times out
 * (requestTimeoutMs, 15 s by default), so that is how long a writer on a frozen leader stays stuck.
 */
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { ZabClient, ZabClientError } from '../client/client.js';

const nowMs = (): number => performance.timeOrigin + performance.now();

function args(argv: string[]): Record<string, string> {
  const a: Record<string, string> = { servers: '127.0.0.1:2181', size: '100', path: '/failover', 'request-timeout': '', ordered: 'no' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, '');
    if (!(k in a)) throw new Error(`unknown option --${k}`);
    a[k] = argv[i + 1] ?? '';
  }
  return a;
}

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  const client = new ZabClient({ servers: a.servers!, shuffle: a.ordered !== 'yes', ...(a['request-timeout'] ? { requestTimeoutMs: Number(a['request-timeout']) } : {}) });
  const value = new Uint8Array(Number(a.size)).fill(0x62);
  const path = a.path!;
  try {
    await client.create(path, value);
  } catch (e) {
    if (!(e instanceof ZabClientError) || e.code !== 'NodeExists') throw e;
  }
  await client.setData(path, value);
  process.stdout.write(`ready - ${client.currentServer() ?? '?'}\n`);

  let mark = NaN;
  let stop = false;
  const ok: number[] = [];
  const errKinds: Record<string, number> = {};
  let errAfter = 0;
  const writer = (async () => {
    let resumedSaid = false;
    while (!stop) {
      try {
        await client.setData(path, value);
        const t = nowMs();
        ok.push(t);
        if (!resumedSaid && !Number.isNaN(mark) && t - mark > 50) {
          resumedSaid = true;
          process.stdout.write(`resumed ${t}\n`);
        }
      } catch (e) {
        if (stop) break;
        if (!Number.isNaN(mark)) {
          errAfter++;
          const k = e instanceof ZabClientError ? e.code : e instanceof Error ? e.name : String(e);
          errKinds[k] = (errKinds[k] ?? 0) + 1;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  })();

  const rl = readline.createInterface({ input: process.stdin });
  for await (const raw of rl) {
    const line = raw.trim();
    if (line.startsWith('mark ')) mark = Number(line.slice(5));
    else if (line === 'report') break;
  }
  rl.close();
  stop = true;
  const okMs = Number.isNaN(mark) ? [] : ok.filter((t) => t >= mark - 1000).map((t) => Math.round((t - mark) * 100) / 100);
  const server = client.currentServer() ?? '?';
  process.stdout.write(JSON.stringify({ ok_ms: okMs, writes_ok: ok.length, errors_after_mark: errAfter, error_kinds: errKinds, session_timeout_ms: null, server_at_end: server }) + '\n');
  await client.close();
  await Promise.race([writer, new Promise((r) => setTimeout(r, 500))]);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`zab-failover-probe: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
