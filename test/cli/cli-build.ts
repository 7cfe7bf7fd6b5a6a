/**
 * The CLI tests spawn the compiled CLI. `npm test` builds first; when these tests run alone
 * (`npx vitest run test/cli`) and dist/ is older than the CLI sources, build it here.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.ts')) newest = Math.max(newest, fs.statSync(path.join(dir, f)).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const src = Math.max(newestMtime(path.join(ROOT, 'src/cli')), newestMtime(path.join(ROOT, 'src/sim')));
  if (fs.existsSync(CLI) && fs.statSync(CLI).mtimeMs >= src) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
}
