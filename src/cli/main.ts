/** Entry point for running the CLI from source (`node --import tsx src/cli/main.ts ...`). */
import { main } from './index.js';

// A reader that stops early (`transformer generate ... | head`) closes the pipe: stop quietly,
// as Unix tools do, rather than crash on the write's EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

await main(process.argv.slice(2));
