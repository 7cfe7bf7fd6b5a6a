/**
 * Small durable-file helpers shared by the disk stores. Callback fs is used on the hot path (write,
 * fdatasync) because it is one thread-pool round trip with no FileHandle bookkeeping.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Suffix of files being written; a crash can leave them behind and they are deleted on open. */
export const TMP_SUFFIX = '.tmp';

/** pwrite the whole buffer at `position`, looping over short writes. */
export function writeAll(fd: number, buf: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      fs.write(fd, buf, done, buf.length - done, position + done, (err, n) => {
        if (err) reject(err);
        else if (done + n >= buf.length) resolve();
        else step(done + n);
      });
    };
    step(0);
  });
}

/** Synchronous pwrite of the whole buffer (for small writes, which only copy into the page cache). */
export function writeAllSync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function ftruncate(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve())));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

export function openFd(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** Makes creations, renames and unlinks in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `dir/name` atomically: write a temp file, fsync it, rename over the target, fsync the
 * directory. A crash leaves either the old or the new content, plus at most a stray temp file.
 */
export async function writeFileAtomic(dir: string, name: string, data: Uint8Array | readonly Uint8Array[], sync: boolean): Promise<void> {
  const tmp = path.join(dir, name + TMP_SUFFIX);
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    // writeFile continues at the current position, so the parts land back to back.
    for (const part of data instanceof Uint8Array ? [data] : data) await fh.writeFile(part);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path.join(dir, name));
  if (sync) await fsyncDir(dir);
}

/** Deletes `dir/<name>.tmp` files whose base name satisfies `owns`; returns the names removed. */
export async function removeTempFiles(dir: string, owns: (baseName: string) => boolean, sync: boolean): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await fsp.readdir(dir)) {
    if (entry.endsWith(TMP_SUFFIX) && owns(entry.slice(0, -TMP_SUFFIX.length))) {
      await fsp.rm(path.join(dir, entry), { force: true });
      removed.push(entry);
    }
  }
  if (removed.length > 0 && sync) await fsyncDir(dir);
  return removed;
}

/** Unlinks one file and makes that durable before returning, so several unlinks persist in order. */
export async function unlinkDurably(dir: string, name: string, sync: boolean): Promise<void> {
  await fsp.rm(path.join(dir, name), { force: true });
  if (sync) await fsyncDir(dir);
}
