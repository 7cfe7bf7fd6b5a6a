#!/usr/bin/env node
/** Entry point of the `zab` command (package.json "bin"). Everything else is in program.ts. */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
