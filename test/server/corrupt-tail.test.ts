/**
 * Damaged txn logs on a real server of a 3-server ensemble:
 *  1. a torn tail (the newest segment cut mid-record, then garbage appended) while the server was
 *     down (SIGKILL): on restart the tail is cut off and logged, the server rejoins and converges;
 *  2. a checksum failure in the middle of the newest segment, followed by valid records: the server
 *     refuses to start, exits non-zero, and the message names the file and offset and says what to do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZabClient } from '../../src/client/client.js';
import { parseSegmentName, RECORD_HEADER_BYTES } from '../../src/storage/disk-log-format.js';
import { clientAddr, ensureBuilt, freeBasePort, readAll, startEnsemble, statusOf, waitUntil, ZabProc } from './helpers.js';

let tmp = '';
const procs: ZabProc[] = [];

beforeAll(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zab-corrupt-'));
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.terminate();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The newest log segment (highest first zxid) under a server's data dir. */
function newestSegment(dir: string): string {
  const segs = fs
    .readdirSync(dir)
    .map((name) => ({ name, first: parseSegmentName(name) }))
    .filter((s): s is { name: string; first: bigint } => s.first !== null)
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  expect(segs.length, `log segments in ${dir}`).toBeGreaterThan(0);
  return path.join(dir, segs.at(-1)!.name);
}

/** Offsets of the records of a segment (layout in src/storage/disk-log-format.ts). */
function recordOffsets(buf: Buffer): number[] {
  const idLen = buf.readUInt16BE(6);
  let off = 8 + idLen + 4;
  const offsets: number[] = [];
  while (off + RECORD_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt32BE(off);
    if (off + RECORD_HEADER_BYTES + len > buf.length) break;
    // an all-zero header: the log's preallocated space after the last record
    if (len === 0 && buf.readUInt32BE(off + 4) === 0 && buf.readBigUInt64BE(off + 8) === 0n) break;
    offsets.push(off);
    off += RECORD_HEADER_BYTES + len;
  }
  return offsets;
}

async function writeMany(addrs: string[], prefix: string, n: number, acked: Map<string, string>): Promise<void> {
  const client = new ZabClient({ servers: addrs.join(','), requestTimeoutMs: 10_000 });
  try {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, j) => {
          const key = `/${prefix}${i + j}`;
          return client.create(key, `${prefix}-${i + j}`).then(() => acked.set(key, `${prefix}-${i + j}`));
        }),
      );
    }
  } finally {
    await client.close();
  }
}

describe('damaged txn log on restart', () => {
  it('a torn tail is cut off and the server rejoins; damage followed by valid records stops it with a clear error', async () => {
    const base = await freeBasePort(3);
    const dataDir = path.join(tmp, 'data');
    const addrs = [1, 2, 3].map((i) => clientAddr(base, i));
    const ens = startEnsemble(dataDir, base, 3, ['--keep-going']);
    procs.push(ens);
    await ens.waitForOutput(/ensemble ready/);

    const acked = new Map<string, string>();
    await writeMany(addrs, 'a', 200, acked);
    const st = await Promise.all(addrs.map(statusOf));
    const victim = st.find((s) => s.role === 'following')!;
    const vAddr = addrs[victim.serverId - 1]!;
    const vDir = path.join(dataDir, `server.${victim.serverId}`);
    const vCfg = path.join(vDir, 'zoo.cfg');
    await waitUntil('the victim to have applied everything', async () => (await statusOf(vAddr)).lastApplied === st.find((s) => s.role === 'leading')!.lastApplied);

    // 1. SIGKILL, then tear the newest segment: cut its last record in half and append garbage.
    process.kill(victim.pid, 'SIGKILL');
    await ens.waitForOutput(new RegExp(`server ${victim.serverId}: died`));
    const seg = newestSegment(vDir);
    const buf = fs.readFileSync(seg);
    const offs = recordOffsets(buf);
    expect(offs.length).toBeGreaterThan(10);
    const lastOff = offs.at(-1)!;
    const lastEnd = lastOff + RECORD_HEADER_BYTES + buf.readUInt32BE(lastOff); // preallocated zeros may follow
    const cut = lastOff + Math.floor((lastEnd - lastOff) / 2);
    fs.truncateSync(seg, cut);
    fs.appendFileSync(seg, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x13, 0x37]));

    // The others keep going meanwhile.
    await writeMany(addrs.filter((a) => a !== vAddr), 'b', 100, acked);

    const restarted = new ZabProc(['server', '--config', vCfg], tmp);
    procs.push(restarted);
    await waitUntil('the torn-tail server to rejoin', async () => {
      const s = await statusOf(vAddr);
      return s.role === 'following' && s.phase === 'broadcast';
    });
    expect(restarted.stderr).toContain('cut off a torn write at the end of the log');
    expect(restarted.stderr).toContain(seg);
    await writeMany(addrs, 'c', 200, acked);
    const keys = [...acked.keys()];
    for (const addr of addrs) {
      const seen = await readAll(addr, keys);
      expect(keys.filter((k) => seen.get(k) !== acked.get(k)), `on ${addr}`).toEqual([]);
    }
    await waitUntil('lastApplied to converge', async () => {
      const s = await Promise.all(addrs.map(statusOf));
      return new Set(s.map((x) => `${x.lastApplied}/${x.znodes}`)).size === 1;
    });

    // 2. SIGKILL again, flip a byte inside a record in the middle of the newest segment.
    const pid = (await statusOf(vAddr)).pid;
    process.kill(pid, 'SIGKILL');
    await restarted.exited;
    const seg2 = newestSegment(vDir);
    const buf2 = fs.readFileSync(seg2);
    const offs2 = recordOffsets(buf2);
    expect(offs2.length).toBeGreaterThan(10);
    const bad = offs2[Math.floor(offs2.length / 2)]!;
    buf2[bad + RECORD_HEADER_BYTES] = buf2[bad + RECORD_HEADER_BYTES]! ^ 0xff; // first data byte
    fs.writeFileSync(seg2, buf2);

    const refused = new ZabProc(['server', '--config', vCfg], tmp);
    procs.push(refused);
    const exit = await refused.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).toBe(3);
    const msg = /zab: error: .*/.exec(refused.stderr)?.[0] ?? '';
    expect(msg, refused.stderr.slice(-3000)).toContain(seg2);
    expect(msg).toContain(`byte offset ${bad}`);
    expect(msg).toMatch(/checksum mismatch/);
    expect(msg).toMatch(/restore it from a healthy replica/);
    expect(msg).toMatch(new RegExp(`truncate the file\\s+to ${bad} bytes`));
    // The file was left as it was: nothing was dropped silently.
    expect(fs.statSync(seg2).size).toBe(buf2.length);

    // The other two still serve.
    const others = addrs.filter((a) => a !== vAddr);
    const after = await readAll(others[0]!, keys);
    expect(keys.filter((k) => after.get(k) !== acked.get(k))).toEqual([]);
    expect((await ens.terminate()).code).toBe(3); // a server died (the SIGKILL): exit 3 with --keep-going
  });
});
