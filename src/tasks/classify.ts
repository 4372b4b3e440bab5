/**
 * Text classification: an encoder-only Transformer (BERT-style) with a byte-level BPE
 * vocabulary, <bos> prepended as the [CLS] position, mean pooling by default, and
 * cross-entropy over the classes. Validation reports the loss and accuracy.
 */
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { EncoderClassifier, type EncoderClassifierConfig } from '../models/classifier.js';
import {
  HierarchicalClassifier,
  type HierarchicalClassifierConfig,
} from '../models/hierarchical.js';
import type { EarlyExitOptions } from '../models/early-exit.js';
import { accuracy } from '../metrics/index.js';
import { trainBPE, type Tokenizer } from '../tokenizers/index.js';
import {
  bucketBatches,
  clipWithWarning,
  epochBatches,
  makeClassificationBatch,
} from '../data/index.js';
import type { TrainTask } from '../train/trainer.js';
import {
  buildFromDir,
  loadModelDirInto,
  readModelDirConfig,
  type ModelDirConfig,
} from './modeldir.js';
import { majorityAccuracy, type Baseline } from './report.js';
import { BASELINE_MODELS, BaselineClassifier } from './baseline.js';
import { withAuxiliaryLosses } from '../nn/stack.js';

export interface Example {
  text: string;
  label: string;
}

/** Classifier presets (parameter counts depend on the vocabulary; see numParameters()). */
export const classifierPresets = {
  /** 2 layers, 4 heads, width 128, d_ff 256. */
  small: { dModel: 128, nhead: 4, numLayers: 2, dimFeedforward: 256, dropout: 0.1 },
  /** For tests: 1 layer, 2 heads, width 32. */
  tiny: { dModel: 32, nhead: 2, numLayers: 1, dimFeedforward: 64, dropout: 0 },
} satisfies Record<string, Omit<EncoderClassifierConfig, 'vocabSize' | 'numClasses'>>;

export interface ClassifyTaskOptions {
  train: Example[];
  valid: Example[];
  preset?: string;
  /**
   * Overrides of the preset's config; `chunkLen` (and `numDocLayers`) select the
   * HierarchicalClassifier, `earlyExit: true` trains an exit after every layer.
   */
  overrides?: Partial<HierarchicalClassifierConfig>;
  vocabSize?: number;
  /** Use this tokenizer (e.g. a pre-trained model's) instead of training a BPE one. */
  tokenizer?: Tokenizer;
  /** Maximum tokens per text (incl. the <bos> [CLS] token). Default 256. */
  maxLen?: number;
  batchTokens: number;
  seed: number;
}

export interface ClassifyTask extends TrainTask {
  model: EncoderClassifier;
  tokenizer: Tokenizer;
  labels: string[];
  generator: Generator;
  dirConfig: ModelDirConfig;
  stepsPerEpoch: number;
  /** The majority class's validation accuracy, which training should beat. */
  baseline: Baseline;
}

/**
 * Examples as training sees them: token ids cut to maxLen - 1 (the batch adds <bos>) and
 * the label's index in `labels`.
 * @param what the option that gave the examples, for the error.
 * @throws Error naming `what` and the label when a label is not in `labels`.
 */
export function encodeExamples(
  tokenizer: Tokenizer,
  labels: readonly string[],
  exs: readonly Example[],
  maxLen: number,
  what: string,
): { ids: number[]; y: number }[] {
  const labelId = new Map(labels.map((l, i) => [l, i]));
  return exs.map((e) => {
    const y = labelId.get(e.label);
    if (y === undefined)
      throw new Error(
        `${what}: label '${e.label}' does not occur in the training data (labels: ${labels.join(', ')})`,
      );
    return { ids: tokenizer.encode(e.text).slice(0, maxLen - 1), y };
  });
}

/** Build tokenizer, model and TrainTask for classification. */
export function buildClassifyTask(o: ClassifyTaskOptions): ClassifyTask {
  const presetName = o.preset ?? 'small';
  const preset = (
    classifierPresets as Record<string, Omit<EncoderClassifierConfig, 'vocabSize' | 'numClasses'>>
  )[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown classification preset '${presetName}' (known: ${Object.keys(classifierPresets).join(', ')})`,
    );
  const labels = [...new Set(o.train.map((e) => e.label))].sort();
  if (labels.length < 2)
    throw new Error(`--data: classification needs at least 2 labels, found ${labels.length}`);
  const tokenizer =
    o.tokenizer ??
    trainBPE(
      o.train.map((e) => e.text),
      { vocabSize: o.vocabSize ?? 4000 },
    );
  const maxLen = o.maxLen ?? 256;
  const train = encodeExamples(tokenizer, labels, o.train, maxLen, '--data');
  const valid = encodeExamples(tokenizer, labels, o.valid, maxLen, '--valid');
  const config: EncoderClassifierConfig & Partial<HierarchicalClassifierConfig> = {
    ...preset,
    ...o.overrides,
    vocabSize: tokenizer.vocabSize,
    numClasses: labels.length,
    maxLen,
    padId: tokenizer.padId,
  };
  const generator = new Generator(o.seed);
  const model =
    config.chunkLen !== undefined
      ? new HierarchicalClassifier({ ...config, chunkLen: config.chunkLen }, generator)
      : new EncoderClassifier(config, generator);
  const ids = { padId: tokenizer.padId, bosId: tokenizer.bosId, maxLen };
  const lengths = train.map((e) => e.ids.length + 1);
  const batchesOf = (epoch: number): number[][] =>
    epochBatches(lengths, o.batchTokens, o.seed, epoch);
  let cached: { epoch: number; batches: number[][] } = { epoch: 0, batches: batchesOf(0) };
  const stepsPerEpoch = cached.batches.length;
  const batchOf = (items: { ids: number[] }[]) =>
    makeClassificationBatch(
      items.map((e) => e.ids),
      ids,
    );
  const logitsOf = (items: { ids: number[] }[]) => model.forward(batchOf(items));
  const validBatches = bucketBatches(
    valid.map((e) => e.ids.length + 1),
    { batchTokens: o.batchTokens, shuffle: false, generator: new Generator(0) },
  );
  const predictValid = (): { loss: number; predictions: number[] } => {
    model.eval();
    let total = 0;
    const predictions = new Array<number>(valid.length);
    noGrad(() => {
      for (const b of validBatches) {
        const items = b.map((i) => valid[i]);
        const logits = logitsOf(items);
        const y = tensor(Int32Array.from(items.map((e) => e.y)), [items.length]);
        total += F.crossEntropy(logits, y, { reduction: 'sum' }).item();
        const am = F.argmax(logits, 1).i32;
        b.forEach((i, j) => (predictions[i] = am[j]));
      }
    });
    return { loss: total / Math.max(valid.length, 1), predictions };
  };
  let last: { loss: number; predictions: number[] } | null = null;
  return {
    model,
    tokenizer,
    labels,
    generator,
    stepsPerEpoch,
    baseline: {
      metric: 'valid_accuracy',
      value: majorityAccuracy(
        train.map((e) => e.y),
        valid.map((e) => e.y),
      ),
      name: 'majority-class accuracy',
    },
    dirConfig: {
      task: 'classify',
      model:
        model instanceof HierarchicalClassifier ? 'HierarchicalClassifier' : 'EncoderClassifier',
      config:
        model instanceof HierarchicalClassifier ? { ...model.hierarchicalConfig() } : { ...config },
      labels,
    },
    loss(step, micro) {
      const k = step - 1 + micro;
      const epoch = Math.floor(k / stepsPerEpoch);
      if (cached.epoch !== epoch) cached = { epoch, batches: batchesOf(epoch) };
      const items = cached.batches[k % stepsPerEpoch].map((i) => train[i]);
      const y = tensor(Int32Array.from(items.map((e) => e.y)), [items.length]);
      const loss = model.trainingLoss(batchOf(items), y); // with early exit: every exit's
      return { loss: withAuxiliaryLosses(model, loss), tokens: items.length };
    },
    evaluate() {
      last = predictValid();
      return last.loss;
    },
    evaluateExtra(): Record<string, number> {
      const r = last ?? predictValid();
      return valid.length
        ? {
            valid_accuracy: accuracy(
              r.predictions,
              valid.map((e) => e.y),
            ),
          }
        : {};
    },
  };
}

/** A trained classifier with its tokenizer and labels (loadClassifier). */
export interface Classifier {
  task: 'classify';
  model: EncoderClassifier;
  tokenizer: Tokenizer;
  labels: string[];
  /** The predicted label and its probability for each text. */
  classify(texts: string[]): { label: string; probability: number }[];
}

/**
 * Load a classifier directory written by `transformer train --task classify` (synchronous).
 * @throws Error naming the directory or the bad file.
 */
export function loadClassifier(dir: string): Classifier {
  const cfg = readModelDirConfig(dir, 'classify');
  if (isBaselineDir(cfg))
    throw new Error(
      `--model: '${dir}' holds a ${cfg.model} baseline (--arch ${String(cfg.config.arch)}), not a Transformer: load it with load() or loadBaselineClassifier()`,
    );
  const model: EncoderClassifier = buildFromDir(dir, () =>
    cfg.model === 'HierarchicalClassifier'
      ? new HierarchicalClassifier(cfg.config as unknown as HierarchicalClassifierConfig)
      : new EncoderClassifier(cfg.config as unknown as EncoderClassifierConfig),
  );
  const tokenizer = loadModelDirInto(dir, model);
  const labels = cfg.labels ?? [];
  if (labels.length !== model.config.numClasses)
    throw new Error(
      `${dir}/config.json: ${labels.length} labels for a model of ${model.config.numClasses} classes`,
    );
  return makeClassifier(model, tokenizer, labels);
}

/**
 * A Classifier over a built model with its weights, tokenizer and labels (what loadClassifier
 * returns). The model is put in eval mode.
 */
export function makeClassifier(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  labels: string[],
): Classifier {
  model.eval();
  return {
    task: 'classify',
    model,
    tokenizer,
    labels,
    classify: (texts) => classifyTexts(model, tokenizer, labels, texts),
  };
}

/**
 * Run `fn` over the texts in batches of 32 (tokenized, truncated to maxLen - 1, <bos>
 * prepended), in eval mode (no dropout) without gradients; the mode is restored after.
 */
function inBatches(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  texts: string[],
  fn: (ids: ReturnType<typeof makeClassificationBatch>, count: number) => void,
  onWarning?: (message: string) => void,
): void {
  const maxLen = model.config.maxLen;
  const clipped = clipWithWarning(
    texts.map((t) => tokenizer.encode(t)),
    maxLen - 1,
    'start',
    onWarning,
  );
  const wasTraining = model.training;
  model.eval(); // no dropout at inference
  try {
    noGrad(() => {
      for (let i = 0; i < texts.length; i += 32) {
        const chunk = clipped.slice(i, i + 32);
        const ids = makeClassificationBatch(chunk, {
          padId: tokenizer.padId,
          bosId: tokenizer.bosId,
          maxLen,
        });
        fn(ids, chunk.length);
      }
    });
  } finally {
    model.train(wasTraining);
  }
}

/** The best label of each row of (n, K) logits and its softmax probability. */
function labelRows(
  logits: Tensor,
  n: number,
  labels: string[],
): { label: string; probability: number }[] {
  const probs = F.softmax(logits);
  const K = labels.length;
  return Array.from({ length: n }, (_, j) => {
    const row = probs.f32.subarray(j * K, (j + 1) * K);
    let best = 0;
    for (let k = 1; k < K; k++) if (row[k] > row[best]) best = k;
    return { label: labels[best], probability: row[best] };
  });
}

/**
 * Predicted label and its probability for each text. Texts longer than the model's context
 * are cut to their first maxLen - 1 tokens; `o.onWarning` hears once how many were cut.
 */
export function classifyTexts(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  labels: string[],
  texts: string[],
  o: { onWarning?: (message: string) => void } = {},
): { label: string; probability: number }[] {
  const out: { label: string; probability: number }[] = [];
  inBatches(
    model,
    tokenizer,
    texts,
    (ids, n) => out.push(...labelRows(model.forward(ids), n, labels)),
    o.onWarning,
  );
  return out;
}

/**
 * The softmax over the classes of each text (inputs prepared as classifyTexts prepares them).
 * @returns per text, K probabilities in the order of the model's labels
 */
export function classProbabilities(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  texts: string[],
  o: { onWarning?: (message: string) => void } = {},
): Float32Array[] {
  const out: Float32Array[] = [];
  const K = model.config.numClasses;
  inBatches(
    model,
    tokenizer,
    texts,
    (ids, n) => {
      const probs = F.softmax(model.forward(ids)).f32; // (n, K)
      for (let j = 0; j < n; j++) out.push(probs.slice(j * K, (j + 1) * K));
    },
    o.onWarning,
  );
  return out;
}

/**
 * Early-exit classification (EncoderClassifier.classifyEarlyExit: DeeBERT confidence
 * threshold, PABEE patience): each text's label, probability and the layers it ran, and the
 * mean layers run.
 * @throws Error when the model has no exits (trained without earlyExit), or a bad option.
 */
export function classifyTextsEarlyExit(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  labels: string[],
  texts: string[],
  opts: EarlyExitOptions,
): {
  predictions: { label: string; probability: number; layersRun: number }[];
  meanLayers: number;
} {
  const predictions: { label: string; probability: number; layersRun: number }[] = [];
  inBatches(model, tokenizer, texts, (ids, n) => {
    const r = model.classifyEarlyExit(ids, opts);
    labelRows(r.logits, n, labels).forEach((p, j) =>
      predictions.push({ ...p, layersRun: r.layersRun[j] }),
    );
  });
  const total = predictions.reduce((a, p) => a + p.layersRun, 0);
  return { predictions, meanLayers: total / Math.max(predictions.length, 1) };
}

/** Whether a classify directory's config.json describes a baseline (src/tasks/baseline.ts). */
export function isBaselineDir(cfg: ModelDirConfig): boolean {
  return (Object.values(BASELINE_MODELS) as string[]).includes(cfg.model);
}

/**
 * Load a baseline directory written by `train --task classify --arch tfidf-logreg|bow-nb`.
 * @throws Error naming the directory when it holds another model, or the bad file.
 */
export function loadBaselineClassifier(dir: string): BaselineClassifier {
  const cfg = readModelDirConfig(dir, 'classify');
  if (!isBaselineDir(cfg))
    throw new Error(`--model: '${dir}' holds a ${cfg.model}, not a baseline classifier`);
  return BaselineClassifier.load(dir, cfg);
}

/**
 * The predicted label and probability of each text by the classifier in `dir`, a
 * Transformer or a baseline (what `transformer classify` and `eval` print).
 * @throws Error naming the directory or the bad file.
 */
export function classifyWithDir(
  dir: string,
  texts: string[],
  o: { onWarning?: (message: string) => void } = {},
): { label: string; probability: number }[] {
  if (isBaselineDir(readModelDirConfig(dir, 'classify')))
    return loadBaselineClassifier(dir).classify(texts);
  const { model, tokenizer, labels } = loadClassifier(dir);
  return classifyTexts(model, tokenizer, labels, texts, o);
}
