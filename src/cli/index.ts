/**
 * The `transformer` command line. Argument parsing by commander.
 */
import { Command, InvalidArgumentError } from 'commander';
import { availableBackends, backend, nativeBackendError, setNumThreads } from '../backend/index.js';
import { generateText, trainLM } from './lm.js';

function int(name: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}
function float(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a number >= ${min}, got '${v}'`);
    return n;
  };
}

/** Run the CLI with `argv` (without node and script). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('transformer')
    .description('Build, train, run and explain Transformer models on Node.js')
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .showHelpAfterError()
    .hook('preAction', (cmd) => {
      const t = cmd.opts().threads as number | undefined;
      if (t) setNumThreads(t);
    });
  program
    .command('info')
    .description('print the backend in use and the backends available')
    .action(() => {
      const b = backend();
      process.stdout.write(`backend: ${b.name}\navailable: ${availableBackends().join(', ')}\n`);
      const err = nativeBackendError();
      if (err) process.stdout.write(`native: ${err}\n`);
    });
  program
    .command('train')
    .description('train a model; today: --task lm (character-level GPT on plain text)')
    .option('--task <task>', 'lm (translate and classify are not implemented yet)', 'lm')
    .option('--data <name|path>', 'built-in data set name or a text file', 'tinyshakespeare')
    .option('--preset <name>', 'model preset (LM: char-small, tiny, gpt2-small)', 'char-small')
    .option('--out <dir>', 'output model directory', 'runs/lm')
    .option('--steps <n>', 'optimizer steps', int('--steps'), 2000)
    .option('--batch-size <n>', 'sequences per batch', int('--batch-size'), 12)
    .option('--lr <x>', 'peak learning rate (AdamW, cosine decay)', float('--lr'), 1e-3)
    .option('--seed <n>', 'random seed', int('--seed', 0), 1337)
    .option('--eval-every <n>', 'validation every N steps', int('--eval-every'), 250)
    .option('--eval-batches <n>', 'validation batches', int('--eval-batches'), 20)
    .action(async (o) => {
      if (o.task !== 'lm')
        throw new InvalidArgumentError(`--task '${o.task}' is not implemented yet (available: lm)`);
      await trainLM({
        ...o,
        batchSize: o.batchSize,
        evalEvery: o.evalEvery,
        evalBatches: o.evalBatches,
      });
    });
  program
    .command('generate')
    .description('continue a prompt with a trained language model')
    .requiredOption('--model <dir>', 'model directory written by `train --task lm`')
    .option('--prompt <text>', 'text to continue', '\n')
    .option('--max-tokens <n>', 'new tokens', int('--max-tokens'), 200)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', float('--temperature'), 0.8)
    .option('--top-k <k>', 'keep the k most likely tokens (0 = all)', int('--top-k', 0), 0)
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', float('--top-p'), 1)
    .option('--seed <n>', 'random seed', int('--seed', 0), 0)
    .action(async (o) => {
      process.stdout.write((await generateText(o.model, o.prompt, o)) + '\n');
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    process.stderr.write(`transformer: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
