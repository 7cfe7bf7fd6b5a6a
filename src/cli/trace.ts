/**
 * `zab trace view TRACE.jsonl`: render a simulator trace (`zab sim --trace`) as a self-contained
 * HTML message-sequence chart. The file is streamed line by line; only the window shown is kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MAX_EVENTS, TraceCollector, type WindowOptions } from '../trace/collect.js';
import { renderChart } from '../trace/render.js';
import { CliError, EXIT } from './errors.js';
import type { CliContext } from './program.js';

interface ViewOptions {
  out?: string;
  from?: number;
  to?: number;
  maxEvents: number;
}

function msArg(what: string): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what} must be a virtual time in ms (a number >= 0), got '${value}'.`);
    return n;
  };
}

function countArg(value: string): number {
  const s = value.trim();
  if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) throw new InvalidArgumentError(`--max-events must be a whole number >= 1, got '${value}'.`);
  return Number(s);
}

/** Streams a trace file through the collector and writes the page; returns the output path. */
export async function viewTrace(file: string, opts: ViewOptions): Promise<{ out: string; events: number; violation: string | null }> {
  if (!fs.existsSync(file)) throw new CliError(`trace file ${file} does not exist; write one with \`zab sim --seed S --trace FILE\`.`);
  if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) throw new CliError(`--from ${opts.from} is after --to ${opts.to}.`);
  const w: WindowOptions = { maxEvents: opts.maxEvents };
  if (opts.from !== undefined) w.from = opts.from;
  if (opts.to !== undefined) w.to = opts.to;
  const collector = new TraceCollector(w);
  const input = fs.createReadStream(file, { encoding: 'utf8' });
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      collector.push(line);
      if (collector.done()) break;
    }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, EXIT.ERROR);
  } finally {
    rl.close();
    input.destroy();
  }
  const model = collector.result();
  const out = opts.out ?? file.replace(/(\.trace)?\.jsonl?$/i, '') + '.html';
  const html = renderChart(model, { title: `zab trace: ${path.basename(file)}` });
  try {
    fs.writeFileSync(out, html);
  } catch (err) {
    throw new CliError(`cannot write ${out}: ${err instanceof Error ? err.message : String(err)}; pass --out with a writable path.`, EXIT.ERROR);
  }
  return { out, events: model.events.length, violation: model.violation?.invariant ?? null };
}

export function registerTrace(program: Command, ctx: CliContext): void {
  const trace = program.command('trace').description('tools for simulator traces (zab sim --trace)');
  trace
    .command('view')
    .argument('<trace>', 'a JSONL trace written by zab sim --trace')
    .description(
      'Render a simulator trace as a self-contained HTML message-sequence chart: a lane per server, messages as arrows ' +
        '(dropped ones dashed red), roles, established epochs, faults, client acks, and the violation highlighted. ' +
        `By default the last ${DEFAULT_MAX_EVENTS} events before the violation (or the end) are shown.`,
    )
    .option('--out <file>', 'where to write the page (default: the trace path with .html)')
    .addOption(new Option('--from <ms>', 'show events from this virtual time on').argParser(msArg('--from')))
    .addOption(new Option('--to <ms>', 'show events up to this virtual time').argParser(msArg('--to')))
    .addOption(new Option('--max-events <n>', 'draw at most this many events').argParser(countArg).default(DEFAULT_MAX_EVENTS))
    .action(async (file: string, opts: ViewOptions) => {
      const r = await viewTrace(file, opts);
      ctx.io.out(`${r.out} (${r.events} events${r.violation ? `, violation: ${r.violation}` : ''})\n`);
      ctx.exitCode = EXIT.OK;
    });
}
