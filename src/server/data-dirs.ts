/** Creates a server's data directories and checks they are writable, with errors that say what to do. */
import fsp from 'node:fs/promises';
import path from 'node:path';

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

/** mkdir -p, then proves the directory writable by creating and removing a probe file. */
export async function prepareDataDir(dir: string, what: string): Promise<string> {
  const abs = path.resolve(dir);
  try {
    await fsp.mkdir(abs, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new DataDirError(`${what} ${abs} cannot be created (${code}): create it yourself or point ${what} at a writable location`);
  }
  const st = await fsp.stat(abs);
  if (!st.isDirectory()) throw new DataDirError(`${what} ${abs} exists but is not a directory: point ${what} at a directory`);
  const probe = path.join(abs, `.write-probe-${process.pid}`);
  try {
    await fsp.writeFile(probe, 'ok');
    await fsp.rm(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new DataDirError(
      `${what} ${abs} is not writable (${code}): fix its permissions (the server runs as uid ${process.getuid?.() ?? '?'}) or use another directory`,
    );
  }
  return abs;
}
