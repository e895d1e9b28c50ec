/**
 * Runs one `integrity` command in its own process and reports, on file descriptor 3, its exit code and the
 * process's peak resident set size: the client's memory is measured on the real command, nothing else.
 */
import { createWriteStream } from 'node:fs';
import '../src/cli/v8-flags.js';
import { main } from '../src/cli/main.js';

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
await new Promise((resolve) => process.stdout.write('', resolve));
const report = createWriteStream('', { fd: 3 });
await new Promise<void>((resolve) => report.end(JSON.stringify({ code, maxRssKb: process.resourceUsage().maxRSS }), () => resolve()));
process.exit(code);
