/**
 * `transformer pretrain` (issue #18, tutorial Task 2 Sec. 2.5): pre-train on unlabelled text,
 * then fine-tune with `train --task classify --init DIR`. This file also adds the train
 * command's initialization options (--init-embeddings, --freeze-embeddings, --init,
 * --layer-lr-decay, --freeze-layers), so that src/cli/index.ts needs one line:
 * `registerPretrainCommand(program)`.
 */
import { Option, type Command } from 'commander';
import { float, int } from './index.js';

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
}
