/**
 * The `transformer` command line. Argument parsing by commander.
 */
import { Command } from 'commander';
import { availableBackends, backend, nativeBackendError } from '../backend/index.js';

/** Run the CLI with `argv` (without node and script). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('transformer')
    .description('Build, train, run and explain Transformer models on Node.js')
    .showHelpAfterError();
  program
    .command('info')
    .description('print the backend in use and the backends available')
    .action(() => {
      const b = backend();
      process.stdout.write(`backend: ${b.name}\navailable: ${availableBackends().join(', ')}\n`);
      const err = nativeBackendError();
      if (err) process.stdout.write(`native: ${err}\n`);
    });
  await program.parseAsync(argv, { from: 'user' });
}
