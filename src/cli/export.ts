/**
 * `transformer export --format FORMAT --model DIR --out OUT`: write a trained model for other
 * tools. The formats are a table, one line each ({ torch: ... }); each writer takes the
 * parsed options and returns the lines to print.
 */
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { exportModel } from '../export/index.js';
import { exportTorch, type TorchExportOptions } from '../export/torch/index.js';
import { float, int } from './index.js';
import { output } from './output.js';

/** The options of `transformer export` (every format's; each format reads its own). */
export interface ExportCommandOptions extends TorchExportOptions {
  format: string;
  /** onnx, safetensors-hf: replace the files of a non-empty --out. */
  overwrite?: boolean;
}

/**
 * A Hugging Face directory (src/export: onnx, safetensors-hf) written to --out.
 * @throws Error naming --out when it is the model directory or a non-empty directory without
 *   --overwrite; as exportModel otherwise.
 */
function runHfExport(o: ExportCommandOptions): string[] {
  if (resolve(o.out) === resolve(o.model))
    throw new Error(`--out: '${o.out}' is the model directory itself; choose another directory`);
  if (existsSync(o.out) && readdirSync(o.out).length > 0 && !o.overwrite)
    throw new Error(`--out: '${o.out}' is not empty (add --overwrite to replace its files)`);
  return exportModel(o.model, o.format, o.out);
}

/** One export format: a one-line description and the writer. */
interface ExportFormat {
  description: string;
  run(o: ExportCommandOptions): string[];
}

/** The export formats, by --format name. */
export const EXPORT_FORMATS: Record<string, ExportFormat> = {
  onnx: {
    description:
      'a Hugging Face directory with onnx/*.onnx that transformers.js and onnxruntime load',
    run: runHfExport,
  },
  'safetensors-hf': {
    description: "the same directory with the HF architecture's weight names instead of ONNX",
    run: runHfExport,
  },
  torch: {
    description:
      'modeling.py (torch.nn.Module, our state-dict names), train_ddp.py (torchrun + DistributedDataParallel), our recipe and training batches',
    run(o) {
      const r = exportTorch(o);
      return [
        `wrote ${o.out}: ${r.files.join(', ')} (${r.kind}; ${r.batches} training batches)`,
        `continue training: cd ${o.out} && torchrun --nproc_per_node ${o.nproc ?? 2} train_ddp.py --out CKPT_DIR`,
      ];
    },
  },
};

/** Register `transformer export` on the program. */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      'export a model directory for other tools: onnx (transformers.js, onnxruntime), safetensors-hf (Python transformers), torch (PyTorch module + DDP training)',
    )
    .addOption(
      new Option('--format <name>', 'export format')
        .choices(Object.keys(EXPORT_FORMATS))
        .makeOptionMandatory(),
    )
    .requiredOption('--model <dir>', 'model directory written by train')
    .requiredOption('--out <dir>', 'output folder')
    .option('--overwrite', 'onnx, safetensors-hf: replace the files of a non-empty --out')
    .option(
      '--data <name|path>',
      "torch: the run's training data (default: the task's built-in set)",
    )
    .option('--valid <path>', "torch: the run's --valid file, if it had one (it changes the split)")
    .option('--seed <n>', "torch: the run's seed (train's default 1337)", int('--seed', 0))
    .option(
      '--batch-size <n>',
      "torch, lm: the run's --batch-size (default 12)",
      int('--batch-size'),
    )
    .option(
      '--batch-tokens <n>',
      "torch, translate and classify: the run's --batch-tokens (default 1000, 8192)",
      int('--batch-tokens'),
    )
    .option(
      '--first-step <n>',
      'torch: our step of the first exported batch (default 1)',
      int('--first-step'),
    )
    .option('--steps <n>', 'torch: steps of the PyTorch run (default 20)', int('--steps'))
    .option('--lr <x>', "torch: peak learning rate (default the task's)", float('--lr', 0))
    .option(
      '--nproc <n>',
      'torch: processes (batches written: steps x nproc; default 2)',
      int('--nproc'),
    )
    .action((o: ExportCommandOptions) => {
      for (const line of EXPORT_FORMATS[o.format].run(o)) output.err(line + '\n');
    });
}
