/**
 * `transformer serve --model DIR [--model DIR2 ...] [--port 8080] [--host 127.0.0.1]`: the
 * HTTP server of src/serve (JSON endpoints and the attention page) over trained models.
 */
import type { Command } from 'commander';
import { startServer } from '../serve/server.js';
import { int } from './index.js';
import { output } from './output.js';

/** Collect a repeated option into a list. */
const collect = (v: string, all: string[] = []): string[] => [...all, v];

/** Add the `serve` command to the program. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'serve models over HTTP: POST /api/translate, /api/generate, /api/classify, /api/attention (JSON; streamed as server-sent events with "stream": true) and a page at / showing the attention',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory (repeat for several models)', collect)
    .option('--port <n>', 'TCP port (0 = any free port)', int('--port', 0), 8080)
    .option(
      '--host <address>',
      'address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)',
      '127.0.0.1',
    )
    .option('--body-limit <size>', "largest request body, as '64kb' or '1mb'", '64kb')
    .action(async (o: { model: string[]; port: number; host: string; bodyLimit: string }) => {
      const s = await startServer({
        models: o.model,
        port: o.port,
        host: o.host,
        bodyLimit: o.bodyLimit,
      });
      const names = s.models.models.map((m) => `${m.name} (${m.loaded.task})`).join(', ');
      output.err(`serving ${names} at ${s.url} (Ctrl-C stops)\n`);
      if (!['127.0.0.1', 'localhost', '::1'].includes(o.host))
        output.err(
          `warning: --host ${o.host} makes the server reachable from other machines; it has no authentication\n`,
        );
    });
}
