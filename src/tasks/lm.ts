/**
 * Language modelling: a decoder-only Transformer (GPT-style) on plain text with a
 * character-level (default) or BPE tokenizer; nanoGPT's shakespeare_char recipe by default.
 *
 * Batches are random windows of blockSize tokens drawn by a generator seeded from
 * (seed, step, micro-batch), so a resumed run sees the same batches (exact resume).
 */
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { DecoderLM, type DecoderLMConfig } from '../models/decoder-lm.js';
import {
  TransformerXL,
  generateXLSteps,
  segmentLoss,
  type TransformerXLConfig,
} from '../models/transformer-xl.js';
import { lmPresets } from '../models/presets.js';
import { generateSteps } from '../decode/generate.js';
import { TextStreamer, streamText } from '../decode/text-stream.js';
import {
  encodeChecked,
  encodeChunks,
  specialTokenIds,
  tokenizeCorpus,
  type Tokenizer,
} from '../tokenizers/index.js';
import { textChunks, type TextSource } from '../data/index.js';
import type { TrainTask } from '../train/trainer.js';
import {
  buildFromDir,
  loadModelDirInto,
  readModelDirConfig,
  type ModelDirConfig,
} from './modeldir.js';
import { unigramCrossEntropy, type Baseline } from './report.js';
import { withAuxiliaryLosses } from '../nn/stack.js';

export interface LMTaskOptions {
  /** The training text: a string, or a file read in chunks (tokenized in bounded memory). */
  text: TextSource;
  /** Optional separate validation text; otherwise the last 10% (nanoGPT's split). */
  validText?: TextSource;
  preset?: string;
  /** Overrides of the preset's config (from --config FILE.json). */
  overrides?: Partial<DecoderLMConfig> & { memLen?: number };
  tokenizer?: 'char' | 'bpe';
  /** BPE vocabulary size. Default 4000. */
  vocabSize?: number;
  batchSize: number;
  seed: number;
  evalBatches: number;
  /**
   * 'DecoderLM' (default: GPT-style, random windows) or 'TransformerXL' (Dai et al. 2019:
   * batchSize parallel streams of consecutive blockSize segments with the memory carried
   * between steps; no gradient accumulation; a resumed run restarts with empty memories).
   */
  model?: 'DecoderLM' | 'TransformerXL';
}

/** A language model of either architecture. */
export type LMModel = DecoderLM | TransformerXL;

/** Random (x, y) windows: x (B, T) int32, y (B*T) the next tokens. */
export function lmBatch(
  src: Int32Array,
  B: number,
  T: number,
  gen: Generator,
): { x: Tensor; y: Tensor } {
  if (src.length <= T + 1)
    throw new Error(
      `language modelling: the text has ${src.length} tokens, fewer than the context ${T} + 2`,
    );
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const s = gen.randint(src.length - T - 1);
    x.set(src.subarray(s, s + T), b * T);
    y.set(src.subarray(s + 1, s + T + 1), b * T);
  }
  return { x: tensor(x, [B, T]), y: tensor(y, [B * T]) };
}

/**
 * The training batch of step `step` (1-based), micro-batch `micro`: random windows drawn by a
 * generator seeded from (seed, step, micro), so a resumed run (and an export of the batches)
 * sees the same ones.
 */
export function lmTrainBatch(
  train: Int32Array,
  B: number,
  T: number,
  seed: number,
  step: number,
  micro: number,
): { x: Tensor; y: Tensor } {
  return lmBatch(train, B, T, new Generator(seed * 1_000_003 + step * 64 + micro));
}

export interface LMTask extends TrainTask {
  model: LMModel;
  tokenizer: Tokenizer;
  dirConfig: ModelDirConfig;
  /** Model generator (initialization, dropout): checkpointed by the trainer. */
  generator: Generator;
  trainTokens: number;
  /** The unigram model's validation loss, which training should beat. */
  baseline: Baseline;
}

/**
 * What the tasks of both architectures share: the model, tokenizer and generator, the
 * training size and the unigram baseline (its loss on `valid`, computed now).
 * @param train, valid int32 token ids.
 */
function lmTaskBase(
  model: LMModel,
  tokenizer: Tokenizer,
  generator: Generator,
  train: Int32Array,
  valid: Int32Array,
): Pick<LMTask, 'model' | 'tokenizer' | 'generator' | 'trainTokens' | 'baseline'> {
  return {
    model,
    tokenizer,
    generator,
    trainTokens: train.length,
    baseline: {
      metric: 'valid_loss',
      value: unigramCrossEntropy(train, valid, model.config.vocabSize),
      name: 'unigram baseline loss',
    },
  };
}

/** Build the tokenizer, model and TrainTask for language modelling. */
export function buildLMTask(o: LMTaskOptions): LMTask {
  const presetName = o.preset ?? 'char-small';
  const preset = (lmPresets as Record<string, Omit<DecoderLMConfig, 'vocabSize'>>)[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown language-model preset '${presetName}' (known: ${Object.keys(lmPresets).join(', ')})`,
    );
  const what = (t: TextSource): string => (typeof t === 'string' ? 'text' : t.path);
  const { tokenizer, ids: all } = tokenizeCorpus(textChunks(o.text), {
    tokenizer: o.tokenizer,
    vocabSize: o.vocabSize,
    what: what(o.text),
  });
  let train = all;
  let valid: Int32Array;
  if (o.validText !== undefined)
    valid = encodeChunks(tokenizer, textChunks(o.validText), what(o.validText));
  else {
    const split = Math.floor(all.length * 0.9);
    train = all.subarray(0, split);
    valid = all.subarray(split);
  }
  const config: DecoderLMConfig = { ...preset, ...o.overrides, vocabSize: tokenizer.vocabSize };
  const generator = new Generator(o.seed);
  if (o.model === 'TransformerXL')
    return buildXLTask(o, config as TransformerXLConfig, tokenizer, train, valid, generator);
  const model = new DecoderLM(config, generator);
  const T = config.blockSize;
  const V = config.vocabSize;
  const B = o.batchSize;
  const loss = (x: Tensor, y: Tensor): Tensor =>
    F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y);
  return {
    ...lmTaskBase(model, tokenizer, generator, train, valid),
    dirConfig: { task: 'lm', model: 'DecoderLM', config: { ...config } },
    loss(step, micro) {
      const { x, y } = lmTrainBatch(train, B, T, o.seed, step, micro);
      return { loss: withAuxiliaryLosses(model, loss(x, y)), tokens: y.size };
    },
    evaluate() {
      const g = new Generator(o.seed + 1); // the same validation batches at every evaluation
      model.eval();
      let total = 0;
      noGrad(() => {
        for (let i = 0; i < o.evalBatches; i++) {
          const { x, y } = lmBatch(valid, B, T, g);
          total += loss(x, y).item();
        }
      });
      return total / o.evalBatches;
    },
  };
}

/**
 * Transformer-XL's task: B streams (stream b reads train[b L_s ...], L_s = |train| / B),
 * step k feeds each stream's segment k (mod the segments per stream) with the memory of
 * segment k - 1; validation is segmentLoss with memory over evalBatches * B segments.
 */
function buildXLTask(
  o: LMTaskOptions,
  config: TransformerXLConfig,
  tokenizer: Tokenizer,
  train: Int32Array,
  valid: Int32Array,
  generator: Generator,
): LMTask {
  const model = new TransformerXL(config, generator);
  const [B, T, V] = [o.batchSize, config.blockSize, config.vocabSize];
  const streamLen = Math.floor(train.length / B);
  const segments = Math.floor((streamLen - 1) / T);
  if (segments < 1)
    throw new Error(
      `language modelling: ${train.length} training tokens are too few for ${B} streams of segments of ${T} + 1`,
    );
  let memory = model.newMemory();
  let last = -1;
  return {
    ...lmTaskBase(model, tokenizer, generator, train, valid),
    dirConfig: { task: 'lm', model: 'TransformerXL', config: { ...model.config } },
    loss(step, micro) {
      if (micro > 0)
        throw new Error('TransformerXL training: gradient accumulation is not supported');
      const k = (step - 1) % segments;
      if (k !== last + 1) memory = model.newMemory(); // a new pass over the streams, or a resume
      last = k;
      const x = new Int32Array(B * T);
      const y = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const s = b * streamLen + k * T;
        x.set(train.subarray(s, s + T), b * T);
        y.set(train.subarray(s + 1, s + T + 1), b * T);
      }
      const logits = model.forward(tensor(x, [B, T]), memory);
      const loss = F.crossEntropy(F.reshape(logits, [-1, V]), tensor(y, [B * T]));
      return { loss: withAuxiliaryLosses(model, loss), tokens: y.length };
    },
    evaluate() {
      return segmentLoss(model, valid, T, { memory: true, maxSegments: o.evalBatches * B }).loss;
    },
  };
}

/** Sampling options of LanguageModel.generate (see decode/generate.ts). */
export interface GenerateTextOptions {
  /** New tokens. Default 200. */
  maxTokens?: number;
  /** Sampling temperature, 0 = greedy. Default 0.8. */
  temperature?: number;
  /** Keep the k most likely tokens, 0 = all. Default 0. */
  topK?: number;
  /** Nucleus mass in (0, 1]. Default 1. */
  topP?: number;
  /** Sampling seed. Default 0. */
  seed?: number;
  /** Hears once about prompt characters that are not in the vocabulary (they become <unk>). */
  onWarning?: (message: string) => void;
}

/** A trained language model with its tokenizer (loadLanguageModel). */
export interface LanguageModel {
  task: 'lm';
  model: LMModel;
  tokenizer: Tokenizer;
  /**
   * Continue `prompt`.
   * @returns the prompt followed by the generated text.
   * @throws Error when the prompt encodes to no tokens.
   */
  generate(prompt: string, o?: GenerateTextOptions): string;
  /**
   * Continue `prompt`, handing out the new text as it is generated (one piece per token that
   * completes text; the prompt is not repeated): prompt + the pieces = `generate(prompt, o)`.
   * @throws Error (at once) when the prompt encodes to no tokens.
   */
  generateStream(prompt: string, o?: GenerateTextOptions): AsyncGenerator<string, void, undefined>;
}

/**
 * Load a language-model directory written by `transformer train --task lm` (synchronous).
 * @throws Error naming the directory or the bad file (config.json, model.safetensors,
 *   tokenizer.json).
 */
export function loadLanguageModel(dir: string): LanguageModel {
  const cfg = readModelDirConfig(dir, 'lm');
  const model: LMModel = buildFromDir(dir, () =>
    cfg.model === 'TransformerXL'
      ? new TransformerXL(cfg.config as unknown as TransformerXLConfig)
      : new DecoderLM(cfg.config as unknown as DecoderLMConfig),
  );
  return makeLanguageModel(model, loadModelDirInto(dir, model));
}

/**
 * A LanguageModel over a built model with its weights and tokenizer (what loadLanguageModel
 * returns). The model is put in eval mode.
 */
export function makeLanguageModel(model: LMModel, tokenizer: Tokenizer): LanguageModel {
  model.eval();
  return {
    task: 'lm',
    model,
    tokenizer,
    generate(prompt, o = {}) {
      const out = [...lmSteps(model, tokenizer, prompt, o)];
      return prompt + tokenizer.decode(out, { skipSpecial: true });
    },
    generateStream(prompt, o = {}) {
      return streamText(lmSteps(model, tokenizer, prompt, o), new TextStreamer(tokenizer));
    },
  };
}

/**
 * The new tokens of `prompt`'s continuation as a step iterator (generateSteps, or
 * generateXLSteps for a TransformerXL), with the CLI's defaults and the tokenizer's special
 * tokens suppressed.
 * @throws Error (at once) when the prompt encodes to no tokens.
 */
function lmSteps(
  model: LMModel,
  tokenizer: Tokenizer,
  prompt: string,
  o: GenerateTextOptions,
): IterableIterator<number> {
  const { ids, warning } = encodeChecked(tokenizer, prompt, '--prompt');
  if (warning !== null) o.onWarning?.(warning);
  if (ids.length === 0) throw new Error('--prompt: the prompt encodes to no tokens');
  const opts = {
    suppressIds: specialTokenIds(tokenizer),
    maxNewTokens: o.maxTokens ?? 200,
    temperature: o.temperature ?? 0.8,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    generator: new Generator(o.seed ?? 0),
  };
  return model instanceof TransformerXL
    ? generateXLSteps(model, ids, opts)
    : generateSteps(model, ids, opts);
}

/** Load a language model directory (the same as loadLanguageModel). */
export const loadLM = loadLanguageModel;

/** Continue `prompt` with a trained language model. */
export function generateText(dir: string, prompt: string, o: GenerateTextOptions): string {
  return loadLanguageModel(dir).generate(prompt, o);
}

/**
 * Loss and perplexity of a model directory on a text, over non-overlapping windows of the
 * context length (at most `maxWindows`).
 */
export function evalLM(
  dir: string,
  text: TextSource,
  maxWindows = 600,
): { loss: number; perplexity: number; tokens: number } {
  const { model, tokenizer } = loadLanguageModel(dir);
  const ids = encodeChunks(tokenizer, textChunks(text));
  const T = model.config.blockSize;
  const V = model.config.vocabSize;
  if (model instanceof TransformerXL) {
    // Consecutive segments with the memory (Transformer-XL's evaluation).
    const r = segmentLoss(model, ids, T, { memory: true, maxSegments: maxWindows });
    return { loss: r.loss, perplexity: Math.exp(r.loss), tokens: r.tokens };
  }
  // Non-overlapping windows covering the text (up to `batches` batches).
  let total = 0;
  let count = 0;
  noGrad(() => {
    for (let start = 0; start + T + 1 <= ids.length && count < maxWindows; start += T) {
      const x = tensor(ids.slice(start, start + T), [1, T]);
      const y = tensor(ids.slice(start + 1, start + T + 1), [T]);
      total += F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y).item();
      count++;
    }
  });
  if (count === 0)
    throw new Error(`--data: the text is shorter than the context (${T + 1} tokens)`);
  const loss = total / count;
  return { loss, perplexity: Math.exp(loss), tokens: count * T };
}
