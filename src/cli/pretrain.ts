/**
 * `transformer pretrain` (issue #18, tutorial Task 2 Sec. 2.5): pre-train on unlabelled text,
 * then fine-tune with `train --task classify --init DIR`. This file also adds the train
 * command's initialization options (--init-embeddings, --freeze-embeddings, --init,
 * --layer-lr-decay, --freeze-layers), so that src/cli/index.ts needs one line:
 * `registerPretrainCommand(program)`.
 */
import { Option, type Command } from 'commander';
import { float, int } from './index.js';
import { BUILTIN_DATASETS, resolveDataset } from '../data/index.js';
import { loadTaskData } from '../tasks/data.js';
import { buildLMTask } from '../tasks/lm.js';
import { buildMLMTask } from '../tasks/pretrain.js';
import { classifierPresets } from '../tasks/classify.js';
import { AdamW, weightDecayGroups } from '../train/optim.js';
import { cosineSchedule } from '../train/schedule.js';
import { abandonedRuns, checkRunDir } from './run-dir.js';
import { fitAndSave } from './train.js';
import { readConfigFile } from './train-options.js';
import { output } from './output.js';

/** The options of `transformer pretrain`. */
export interface PretrainOptions {
  objective: 'mlm' | 'causal';
  data: string;
  out: string;
  overwrite?: boolean;
  resume?: boolean;
  preset?: string;
  config?: string;
  steps: number;
  batchSize: number;
  maxLen: number;
  vocabSize: number;
  lr?: number;
  evalEvery?: number;
  seed: number;
  argv?: string[];
}

/**
 * The unlabelled documents of --data: the training split's texts of a classification set
 * (built-in, or a .tsv file: text<TAB>label, labels ignored), else a text (built-in or file)
 * cut at blank lines.
 * @throws Error naming --data when it is neither.
 */
export function pretrainTexts(data: string): string[] {
  const builtin = BUILTIN_DATASETS[data] as { task: string } | undefined;
  if (builtin?.task === 'classify' || (!builtin && data.endsWith('.tsv')))
    return loadTaskData('classify', data).train.map((e) => e.text);
  return resolveDataset(data, 'lm')
    .split(/\n\s*\n/)
    .filter((d) => d.trim() !== '');
}

/** Run `transformer pretrain` (see the file's comment). */
export async function runPretrain(o: PretrainOptions): Promise<void> {
  const log = (m: string) => output.err(m + '\n');
  if (o.overwrite && o.resume)
    throw new Error('--overwrite and --resume exclude each other (--resume continues DIR)');
  checkRunDir(o.out, { overwrite: o.overwrite, resume: o.resume });
  for (const dir of abandonedRuns(o.out))
    log(`note: ${dir} holds an interrupted earlier run (resume it with --resume --out ${dir})`);
  const presetName = o.preset ?? 'small';
  const preset = (classifierPresets as Record<string, object>)[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown preset '${presetName}' (known: ${Object.keys(classifierPresets).join(', ')})`,
    );
  const file = readConfigFile(o.config);
  const texts = pretrainTexts(o.data);
  const common = { task: 'lm' as const, seed: o.seed, overwrite: o.overwrite, resume: o.resume };
  const trainOptions = { ...common, argv: o.argv };
  const lr = o.lr ?? (o.objective === 'mlm' ? 5e-4 : 1e-3);
  const run = (steps: number) => ({
    steps,
    schedule: cosineSchedule(lr, Math.min(100, Math.floor(steps / 10)), steps + 1, lr / 10),
    evalEvery: o.evalEvery ?? Math.max(1, Math.min(250, Math.ceil(steps / 10))),
  });
  if (o.objective === 'mlm') {
    const task = buildMLMTask({
      texts,
      preset: presetName,
      overrides: file,
      vocabSize: o.vocabSize,
      maxLen: o.maxLen,
      batchSize: o.batchSize,
      seed: o.seed,
    });
    log(
      `masked-LM pre-training: MaskedLM, ${task.model.numParameters().toLocaleString('en-US')} parameters, BPE vocabulary ${task.tokenizer.vocabSize}, ${texts.length} documents, ${task.trainWindows} training windows of <= ${o.maxLen} tokens, ${o.steps} steps`,
    );
    await fitAndSave(task, task.dirConfig, task.tokenizer, o.out, trainOptions, {
      ...run(o.steps),
      optimizer: new AdamW(weightDecayGroups(task.model, 0.01), { lr }),
    });
    return;
  }
  const task = buildLMTask({
    text: texts.join('\n\n'),
    tokenizer: 'bpe',
    vocabSize: o.vocabSize,
    overrides: { ...preset, position: 'sinusoidal', ...file, blockSize: o.maxLen },
    batchSize: o.batchSize,
    seed: o.seed,
    evalBatches: 20,
  });
  log(
    `causal-LM pre-training: DecoderLM, ${task.model.numParameters().toLocaleString('en-US')} parameters, BPE vocabulary ${task.tokenizer.vocabSize}, ${task.trainTokens.toLocaleString('en-US')} training tokens, context ${o.maxLen}, ${o.steps} steps`,
  );
  await fitAndSave(task, task.dirConfig, task.tokenizer, o.out, trainOptions, {
    ...run(o.steps),
    optimizer: new AdamW(weightDecayGroups(task.model, 0.1), { lr, betas: [0.9, 0.99] }),
  });
}

/** Add the initialization and fine-tuning options to an existing `train` command. */
function extendTrainCommand(train: Command): void {
  train
    .option(
      '--init-embeddings <file>',
      'classify, lm: word vectors (word2vec text/binary as `vectors train` writes, or safetensors) for the token embedding rows whose tokens they hold; prints the coverage',
    )
    .option(
      '--freeze-embeddings',
      'classify, lm: keep the token embedding fixed (with --init-embeddings or --init)',
    )
    .option(
      '--init <dir>',
      'classify: fine-tune from a `transformer pretrain` directory (its encoder and tokenizer; a new head)',
    )
    .addOption(
      new Option(
        '--layer-lr-decay <gamma>',
        'classify: layer-wise learning rate, layer l of L at lr gamma^(L-l), embeddings at lr gamma^L',
      ).argParser(float('--layer-lr-decay', 1e-6, 1)),
    )
    .option(
      '--freeze-layers <k>',
      'classify: freeze the embeddings and the bottom K layers',
      int('--freeze-layers', 0),
    );
}

/** Register `transformer pretrain` and the train command's initialization options. */
export function registerPretrainCommand(program: Command): void {
  const train = program.commands.find((c) => c.name() === 'train');
  if (train) extendTrainCommand(train);
  program
    .command('pretrain')
    .description(
      'pre-train on unlabelled text (masked-LM encoder or causal-LM decoder) and write DIR; fine-tune with `train --task classify --init DIR`',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .addOption(
      new Option('--objective <kind>', 'mlm (BERT, 15% masked: 80/10/10) or causal (GPT)')
        .choices(['mlm', 'causal'])
        .default('mlm'),
    )
    .requiredOption(
      '--data <name|path>',
      "unlabelled text: a built-in or file text (documents cut at blank lines), or a classification set / .tsv (its training split's texts, labels ignored)",
    )
    .requiredOption('--out <dir>', 'output directory')
    .option('--overwrite', 'replace the model or run already in --out')
    .option('--resume', 'continue from DIR/checkpoint.safetensors')
    .option('--preset <name>', 'encoder shape: a classify preset (small (default), tiny)')
    .option('--config <file.json>', 'model config overrides as JSON (e.g. {"numLayers": 4})')
    .option('--steps <n>', 'optimizer steps', int('--steps'), 1000)
    .option('--batch-size <n>', 'windows per batch', int('--batch-size'), 16)
    .option(
      '--max-len <n>',
      'window length in tokens, <bos> included (the fine-tuned classifier keeps it as maxLen)',
      int('--max-len', 2),
      256,
    )
    .option('--vocab-size <n>', 'BPE vocabulary size', int('--vocab-size', 260), 4000)
    .option('--lr <x>', 'peak learning rate (default 5e-4 mlm, 1e-3 causal)', float('--lr', 0))
    .option('--eval-every <n>', 'validate (and checkpoint) every N steps', int('--eval-every'))
    .option('--seed <n>', 'random seed', int('--seed', 0), 1337)
    .action(async (o: PretrainOptions, cmd: Command) => {
      await runPretrain({ ...o, argv: (cmd.parent as { rawArgs?: string[] } | null)?.rawArgs });
    });
}
