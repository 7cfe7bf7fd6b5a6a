#!/usr/bin/env node
/**
 * Benchmark dispatcher: `npm run bench -- <name> [options]`. Each benchmark is a commander
 * subcommand; add one by appending its factory to BENCHMARKS. Progress goes to stderr, figures to
 * stdout (a table, then one JSON line last).
 */
import { Command } from 'commander';
import { costBenchCommand } from './cost-bench.js';
import { ensembleBenchCommand } from './ensemble-bench.js';
import { inprocBenchCommand } from './inproc-bench.js';
import { logBenchCommand } from './log-bench.js';

const BENCHMARKS: (() => Command)[] = [logBenchCommand, ensembleBenchCommand, costBenchCommand, inprocBenchCommand];

const program = new Command('bench').description('zab-ts benchmarks').showHelpAfterError();
for (const make of BENCHMARKS) program.addCommand(make());

await program.parseAsync(process.argv);
