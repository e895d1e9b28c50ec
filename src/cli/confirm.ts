import readline from 'node:readline/promises';

/** Asks on the terminal (stderr, so stdout keeps only the output); true for y or yes. */
export async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
