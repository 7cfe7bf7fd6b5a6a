/**
 * `zab statecharts`: write each protocol machine's definition (JSON), a Mermaid diagram (Markdown)
 * and an SVG to docs/statecharts/ (or --out), plus a README listing them. Deterministic output;
 * `--check` compares instead of writing (exit 1 when the files are stale).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_OUT, generateStatecharts } from '../inspect/export.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

interface Options {
  out: string;
  check?: boolean;
}

export function registerStatecharts(program: Command, ctx: CliContext): void {
  program
    .command('statecharts')
    .description('write the protocol statecharts as JSON, Mermaid (Markdown) and SVG')
    .option('--out <dir>', 'output directory', DEFAULT_OUT)
    .option('--check', 'do not write; exit 1 if the files in --out differ from what would be written')
    .action(async (opts: Options) => {
      const files = await generateStatecharts();
      const dir = path.resolve(opts.out);
      if (opts.check) {
        const stale = [...files].filter(([name, text]) => {
          const file = path.join(dir, name);
          return !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text;
        });
        for (const [name] of stale) ctx.io.err(`stale: ${path.join(opts.out, name)}\n`);
        ctx.io.out(stale.length === 0 ? `statecharts in ${opts.out} are current\n` : `run \`npx zab statecharts\` to regenerate\n`);
        ctx.exitCode = stale.length === 0 ? EXIT.OK : EXIT.FOUND;
        return;
      }
      try {
        fs.mkdirSync(dir, { recursive: true });
        for (const [name, text] of files) fs.writeFileSync(path.join(dir, name), text);
      } catch (err) {
        throw new CliError(`cannot write to ${opts.out}: ${err instanceof Error ? err.message : String(err)}`, EXIT.ERROR);
      }
      for (const name of files.keys()) ctx.io.out(`${path.join(opts.out, name)}\n`);
    });
}
