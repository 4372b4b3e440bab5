/**
 * The training batches of the torch export: the same data set, split, tokenization, length
 * filter, batching and batch order as `transformer train` (the train split of `--data`,
 * tokenized with the model directory's tokenizer, batches of our step `firstStep`, then the
 * next ones), as int32 token ids in one safetensors file, `train_batches.safetensors`:
 *
 *   lm:        batch.{i}.x (B, T), batch.{i}.y (B, T)             the next tokens
 *   translate: batch.{i}.src (B, S), batch.{i}.tgt_in (B, T), batch.{i}.tgt_out (B, T)
 *   classify:  batch.{i}.ids (B, L), batch.{i}.labels (B)
 *
 * with metadata task, batches, first_step, seed, data, pad_id. Also our loss of one batch
 * (batchLoss), which the DDP round trip compares with PyTorch's first loss.
 *
 * Shape letters: B batch, T context or target length, S source length, L classifier input, V vocabulary.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../../autograd.js';
import { tensor, type Tensor } from '../../tensor.js';
import * as F from '../../ops/index.js';
import { DecoderLM } from '../../models/decoder-lm.js';
import { Seq2SeqTransformer } from '../../models/seq2seq.js';
import { EncoderClassifier } from '../../models/classifier.js';
import {
  makeClassificationBatch,
  makeSeq2SeqBatch,
  epochBatches,
  textChunks,
} from '../../data/index.js';
import { encodeChunks, type Tokenizer } from '../../tokenizers/index.js';
import { readSafetensors, writeSafetensors, fromInt32, toInt32 } from '../../io/safetensors.js';
import type { RawTensor } from '../../io/safetensors.js';
import { loadTaskData } from '../../tasks/data.js';
import { loadDirTokenizer, type ModelDirConfig } from '../../tasks/modeldir.js';
import { lmTrainBatch } from '../../tasks/lm.js';
import {
  TARGET_TOKENIZER,
  TRAIN_PAIR_MAX_LEN,
  encodeTrainPairs,
  pairLengths,
} from '../../tasks/translate.js';
import { encodeExamples } from '../../tasks/classify.js';
import { DEFAULT_BATCH } from '../../train/recipe.js';

/** One batch: named int32 tensors. */
export type TorchBatch = Record<string, Tensor>;

/** Which batches to export. */
export interface BatchExportOptions {
  /** The data set name or file, as `transformer train --data`. */
  data: string;
  /** `--valid FILE` of the training run (it changes the split). */
  valid?: string;
  /** The training run's seed (`train --seed`, default 1337). */
  seed: number;
  /** lm: sequences per batch (default 12); translate, classify: padded tokens (1000, 8192). */
  batch?: number;
  /** Our step number of the first batch (1 = the run's first batch). */
  firstStep: number;
  /** How many batches. */
  count: number;
}

/** The batches of steps firstStep .. firstStep + count - 1 of a `transformer train` run. */
type BatchMaker = (dir: string, cfg: ModelDirConfig, o: BatchExportOptions) => TorchBatch[];

const steps = (o: BatchExportOptions): number[] =>
  Array.from({ length: o.count }, (_, j) => o.firstStep + j);

/** Index batches of steps `ks` (1-based) over epochs of bucketed, shuffled examples. */
function bucketed(lengths: number[], batchTokens: number, o: BatchExportOptions): number[][] {
  const perEpoch = epochBatches(lengths, batchTokens, o.seed, 0).length;
  let cache = { epoch: -1, batches: [] as number[][] };
  return steps(o).map((step) => {
    const k = step - 1;
    const epoch = Math.floor(k / perEpoch);
    if (cache.epoch !== epoch)
      cache = { epoch, batches: epochBatches(lengths, batchTokens, o.seed, epoch) };
    return cache.batches[k % perEpoch];
  });
}

const tokenizerOf = (dir: string): Tokenizer => loadDirTokenizer(join(dir, 'tokenizer.json'));

const lmBatches: BatchMaker = (dir, cfg, o) => {
  const data = loadTaskData('lm', o.data, o.valid);
  const all = encodeChunks(tokenizerOf(dir), textChunks(data.text), o.data);
  // buildLMTask's split: the last 10% is validation unless --valid gives it.
  const train = data.validText ? all : all.subarray(0, Math.floor(all.length * 0.9));
  const B = o.batch ?? DEFAULT_BATCH.lm;
  const T = cfg.config.blockSize as number;
  return steps(o).map((step) => {
    const { x, y } = lmTrainBatch(train, B, T, o.seed, step, 0);
    return { x, y: F.reshape(y, [B, T]) };
  });
};

const translateBatches: BatchMaker = (dir, cfg, o) => {
  const src = tokenizerOf(dir);
  const tgtPath = join(dir, TARGET_TOKENIZER);
  const vocabs = { src, tgt: existsSync(tgtPath) ? loadDirTokenizer(tgtPath) : src };
  const pairs = encodeTrainPairs(
    vocabs,
    loadTaskData('translate', o.data, o.valid).train,
    TRAIN_PAIR_MAX_LEN,
  );
  const ids = { padId: vocabs.tgt.padId, bosId: vocabs.tgt.bosId, eosId: vocabs.tgt.eosId };
  const order = bucketed(pairLengths(pairs), o.batch ?? DEFAULT_BATCH.translate, o);
  return order.map((b) => {
    const batch = makeSeq2SeqBatch(
      b.map((i) => pairs[i]),
      ids,
    );
    return { src: batch.src, tgt_in: batch.tgtIn, tgt_out: batch.tgtOut };
  });
};

const classifyBatches: BatchMaker = (dir, cfg, o) => {
  const tokenizer = tokenizerOf(dir);
  const maxLen = cfg.config.maxLen as number;
  const exs = encodeExamples(
    tokenizer,
    cfg.labels ?? [],
    loadTaskData('classify', o.data, o.valid).train,
    maxLen,
    '--data',
  );
  const ids = { padId: tokenizer.padId, bosId: tokenizer.bosId, maxLen };
  const order = bucketed(
    exs.map((e) => e.ids.length + 1),
    o.batch ?? DEFAULT_BATCH.classify,
    o,
  );
  return order.map((b) => ({
    ids: makeClassificationBatch(
      b.map((i) => exs[i].ids),
      ids,
    ),
    labels: tensor(Int32Array.from(b.map((i) => exs[i].y)), [b.length], 'int32'),
  }));
};

const MAKERS: Record<ModelDirConfig['task'], BatchMaker> = {
  lm: lmBatches,
  translate: translateBatches,
  classify: classifyBatches,
};

/**
 * The training batches a `transformer train` run on `o.data` with seed `o.seed` used at our
 * steps firstStep .. firstStep + count - 1 (micro-batch 0), built from the model directory's
 * tokenizer(s).
 * @throws Error naming the data set or file (DataError), or a label not in the model's labels.
 */
export function trainBatches(
  dir: string,
  cfg: ModelDirConfig,
  o: BatchExportOptions,
): TorchBatch[] {
  if (!Number.isInteger(o.count) || o.count < 1)
    throw new Error(`--batches must be a positive integer, got ${o.count}`);
  if (!Number.isInteger(o.firstStep) || o.firstStep < 1)
    throw new Error(`--first-step must be a positive integer, got ${o.firstStep}`);
  return MAKERS[cfg.task](dir, cfg, o);
}

/** Write batches as `batch.{i}.{name}` int32 tensors with string metadata. */
export function writeBatches(
  path: string,
  batches: TorchBatch[],
  metadata: Record<string, string>,
): void {
  const tensors = new Map<string, RawTensor>();
  batches.forEach((b, i) => {
    for (const [name, t] of Object.entries(b))
      tensors.set(`batch.${i}.${name}`, fromInt32(t.i32, [...t.shape]));
  });
  writeSafetensors(path, tensors, { ...metadata, batches: String(batches.length) });
}

/**
 * Read a batches file written by writeBatches.
 * @throws Error naming the file when a tensor name is not `batch.{i}.{name}` or a batch is missing.
 */
export function readBatches(path: string): {
  batches: TorchBatch[];
  metadata: Record<string, string>;
} {
  const { tensors, metadata } = readSafetensors(path);
  const batches: TorchBatch[] = [];
  for (const [key, raw] of tensors) {
    const m = /^batch\.(\d+)\.(\w+)$/.exec(key);
    if (!m) throw new Error(`${path}: tensor '${key}' is not named batch.{i}.{name}`);
    const i = Number(m[1]);
    (batches[i] ??= {})[m[2]] = tensor(toInt32(raw), [...raw.shape], 'int32');
  }
  const n = Number(metadata.batches ?? batches.length);
  for (let i = 0; i < n; i++) if (!batches[i]) throw new Error(`${path}: batch ${i} is missing`);
  return { batches, metadata };
}

/** The models the torch export writes. */
export type TorchExportable = DecoderLM | Seq2SeqTransformer | EncoderClassifier;

/**
 * Our training loss of one exported batch, in eval mode (no dropout) and without gradients:
 * the value PyTorch's first step must give with dropout 0.
 * @param labelSmoothing the recipe's (translate).
 * @param padId the padding id targets ignore (translate).
 */
export function batchLoss(
  model: TorchExportable,
  batch: TorchBatch,
  labelSmoothing: number,
  padId: number,
): number {
  model.eval();
  return noGrad(() => {
    if (model instanceof EncoderClassifier)
      return F.crossEntropy(model.forward(batch.ids), batch.labels).item();
    const lm = model instanceof DecoderLM;
    const logits = lm ? model.forward(batch.x) : model.forward(batch.src, batch.tgt_in); // (B, T, V)
    const V = logits.shape[2];
    const y = F.reshape(lm ? batch.y : batch.tgt_out, [-1]);
    const opts = lm ? {} : { ignoreIndex: padId, labelSmoothing };
    return F.crossEntropy(F.reshape(logits, [-1, V]), y, opts).item();
  });
}
