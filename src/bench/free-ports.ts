/** Free TCP ports on 127.0.0.1 for local ensembles (benchmarks and tests). */
import net from 'node:net';

const HOST = '127.0.0.1';

/** Whether `port` can be listened on now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/**
 * A base port whose derived ports (client base+i, quorum base+100+i, election base+200+i, admin
 * base+300+i, the inspector page base+299) are all free now. Chosen below Linux's ephemeral range
 * (32768 up by default): a server restarted on the same ports must find them still free, not taken
 * meanwhile by some other process's outgoing connection.
 */
export async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 22_000);
    let ok = true;
    for (let i = 0; i < nodes && ok; i++) for (const off of [0, 100, 200, 300]) if (!(await portFree(base + off + i))) ok = false;
    if (ok && (await portFree(base + 299))) return base;
  }
  throw new Error('no free port range found');
}
