/**
 * `transformer export --format torch`: a folder from which PyTorch continues training one of
 * our models on more machines (DESIGN.md, "Growing past one machine"):
 *
 *   modeling.py                 the model as a torch.nn.Module, our state-dict names (modeling.ts)
 *   train_ddp.py                torchrun + DistributedDataParallel (gloo, CPU) training script
 *   train_config.json           our recipe for the run: AdamW, schedule, label smoothing, clipping
 *   train_batches.safetensors   our tokenized training batches (data.ts)
 *   config.json, model.safetensors, tokenizer.json[, tokenizer_target.json]   the model directory
 *
 * train_ddp.py writes a model directory this project loads back (`transformer eval`).
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from '../../tasks/load.js';
import { readModelDirConfig, type ModelDirConfig } from '../../tasks/modeldir.js';
import { trainRecipe, type TrainRecipe } from '../../train/recipe.js';
import { modelingPython, torchKindOf, type TorchKind } from './modeling.js';
import { TRAIN_DDP_PY } from './train-ddp-py.js';
import { trainBatches, writeBatches } from './data.js';

export { modelingPython, torchKindOf, TORCH_MODEL_KINDS, type TorchKind } from './modeling.js';
export {
  trainBatches,
  writeBatches,
  readBatches,
  batchLoss,
  type TorchBatch,
  type TorchExportable,
} from './data.js';

/** Options of the torch export. */
export interface TorchExportOptions {
  /** The model directory (`transformer train --out`). */
  model: string;
  /** The folder to write (created). */
  out: string;
  /** The training data set or file, as `train --data` (default: the task's built-in set). */
  data?: string;
  /** `train --valid FILE`, when the run had one (it changes the training split). */
  valid?: string;
  /** The training run's seed (default 1337, train's). */
  seed?: number;
  /** lm: sequences per batch, as `train --batch-size` (default 12). */
  batchSize?: number;
  /** translate, classify: padded tokens per batch, as `train --batch-tokens` (1000, 8192). */
  batchTokens?: number;
  /** Our step of the first exported batch (default 1; the run's steps + 1 continues it). */
  firstStep?: number;
  /** Steps of the PyTorch run; its schedule is train's for that many steps. Default 20. */
  steps?: number;
  /** Peak learning rate (default the task's, as train). */
  lr?: number;
  /** Processes the batches are for: steps x nproc batches are written. Default 2. */
  nproc?: number;
}

/** What the export wrote. */
export interface TorchExportResult {
  kind: TorchKind;
  files: string[];
  batches: number;
  recipe: TrainRecipe;
}

/** The built-in data set of each task (train's default --data). */
const DEFAULT_DATA: Record<ModelDirConfig['task'], string> = {
  lm: 'tinyshakespeare',
  translate: 'freedict-de-en',
  classify: 'spamassassin',
};

/**
 * Write the torch export of a model directory.
 * @throws Error naming the model class or config option modeling.py does not implement
 *   (torchKindOf), the bad model directory file, the data set, or a batch option of another task.
 */
export function exportTorch(o: TorchExportOptions): TorchExportResult {
  const raw = readModelDirConfig(o.model);
  torchKindOf(raw); // refuse before loading anything big
  const loaded = load(o.model);
  if (!('model' in loaded))
    throw new Error(`export --format torch: ${o.model} is a classical baseline, not a Transformer`);
  const dirConfig: ModelDirConfig = {
    ...raw,
    config: { ...(loaded.model.config as unknown as Record<string, unknown>) },
  };
  const kind = torchKindOf(dirConfig);
  const steps = o.steps ?? 20;
  const nproc = o.nproc ?? 2;
  const recipe = trainRecipe(raw.task, steps, o.lr);
  const data = o.data ?? DEFAULT_DATA[raw.task];
  const seed = o.seed ?? 1337;
  const lm = raw.task === 'lm';
  if (lm ? o.batchTokens !== undefined : o.batchSize !== undefined)
    throw new Error(
      `${lm ? '--batch-tokens' : '--batch-size'} does not apply to a '${raw.task}' model (use ${lm ? '--batch-size' : '--batch-tokens'})`,
    );
  const batches = trainBatches(o.model, dirConfig, {
    data,
    valid: o.valid,
    seed,
    batch: lm ? o.batchSize : o.batchTokens,
    firstStep: o.firstStep ?? 1,
    count: steps * nproc,
  });
  mkdirSync(o.out, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    writeFileSync(join(o.out, name), text);
    files.push(name);
  };
  write('modeling.py', modelingPython(dirConfig));
  write('train_ddp.py', TRAIN_DDP_PY);
  write(
    'train_config.json',
    JSON.stringify({ task: raw.task, steps, nproc, data, seed, ...recipe }, null, 2) + '\n',
  );
  const padId = Number(dirConfig.config.padId ?? 0);
  writeBatches(join(o.out, 'train_batches.safetensors'), batches, {
    task: raw.task,
    first_step: String(o.firstStep ?? 1),
    seed: String(seed),
    data,
    pad_id: String(padId),
  });
  files.push('train_batches.safetensors');
  for (const name of [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_target.json',
  ])
    if (existsSync(join(o.model, name))) {
      copyFileSync(join(o.model, name), join(o.out, name));
      files.push(name);
    }
  return { kind, files, batches: batches.length, recipe };
}
