/**
 * Pre-training on unlabelled text, then fine-tuning (issue #18; tutorial Task 2, Sec. 2.5):
 *
 * - masked-LM pre-training of the encoder (BERT, Devlin et al. 2019, Sec. 3.1): the texts
 *   are cut into windows of maxLen - 1 byte-level BPE tokens, <bos> first (the classifier's
 *   input format); each batch is corrupted by maskTokens (15% of the positions; 80% [MASK],
 *   10% a random token, 10% kept) and the MaskedLM predicts the originals. Byte-level BPE
 *   never emits <unk> (every byte is a token), so <unk>'s id serves as [MASK] and the
 *   vocabulary stays the classifier's.
 * - causal-LM pre-training of the decoder-only model (GPT, Radford et al. 2018) is the lm
 *   task (src/tasks/lm.ts) with a BPE tokenizer and the classifier's block shapes.
 * - fine-tuning: loadPretrainedEncoder copies the pre-trained body into an
 *   EncoderClassifier (a new head): from a MaskedLM every tensor but `classifier.*`; from a
 *   DecoderLM `wte` -> `tok_emb` (divided by sqrt(C): the classifier scales its embedding by
 *   sqrt(C), Sec. 3.4, the LM does not, so the encoder sees the LM's inputs), `wpe` ->
 *   `pos_emb`, `blocks.layers.{i}` -> `encoder.layers.{i}`, `ln_f` -> `encoder.norm`. The
 *   classifier attends both ways where the LM attended causally (as GPT's classifier
 *   reads the whole text, Radford et al. 2018, Sec. 3.2).
 *
 * Shape letters: B batch, S length, C d_model, V vocabulary.
 */
import { join } from 'node:path';
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import { tensor } from '../tensor.js';
import { loadModel } from '../io/checkpoint.js';
import { readSafetensors, toFloat32 } from '../io/safetensors.js';
import { MaskedLM, type MaskedLMConfig } from '../models/masked-lm.js';
import type { EncoderClassifier, EncoderClassifierConfig } from '../models/classifier.js';
import { padBatch } from '../data/index.js';
import { trainBPE, type Tokenizer } from '../tokenizers/index.js';
import { IGNORE_INDEX, maskTokens } from '../train/mlm.js';
import type { TrainTask } from '../train/trainer.js';
import { classifierPresets } from './classify.js';
import { loadDirTokenizer, readModelDirConfig, type ModelDirConfig } from './modeldir.js';
import { unigramCrossEntropy, type Baseline } from './report.js';

export interface MLMTaskOptions {
  /** Unlabelled documents (a text each). */
  texts: string[];
  /** Held-out documents for the validation loss (default: every 20th document). */
  validTexts?: string[];
  /** A classifier preset (small, tiny): the encoder's shape. Default small. */
  preset?: string;
  overrides?: Partial<MaskedLMConfig>;
  /** BPE vocabulary size. Default 4000. */
  vocabSize?: number;
  /** Window length incl. <bos>. Default 256 (the classifier's). */
  maxLen?: number;
  batchSize: number;
  seed: number;
  /** Fraction of positions chosen (BERT's 0.15). */
  maskProb?: number;
}

export interface MLMTask extends TrainTask {
  model: MaskedLM;
  tokenizer: Tokenizer;
  generator: Generator;
  dirConfig: ModelDirConfig;
  trainWindows: number;
  /** The unigram model's loss, which the masked-LM loss should beat. */
  baseline: Baseline;
}

/** Token windows of at most `len` tokens, <bos> first, from each text. */
export function textWindows(tok: Tokenizer, texts: readonly string[], len: number): number[][] {
  const out: number[][] = [];
  for (const t of texts) {
    const ids = tok.encode(t);
    for (let i = 0; i < ids.length; i += len - 1)
      out.push([tok.bosId, ...ids.slice(i, i + len - 1)]);
  }
  return out;
}

/**
 * Corrupt a batch of windows (padded to the longest) for masked-LM training; at least one
 * position per batch is chosen, so the loss is always defined.
 * @returns input (B, S) int32 and labels (B, S) int32 (IGNORE_INDEX where not chosen).
 */
export function maskedBatch(
  windows: readonly (readonly number[])[],
  tok: Tokenizer,
  gen: Generator,
  maskProb = 0.15,
): { input: ReturnType<typeof tensor>; labels: ReturnType<typeof tensor> } {
  const ids = padBatch(windows, tok.padId); // (B, S)
  const specialIds = new Set([tok.padId, tok.bosId, tok.eosId, tok.unkId]);
  const m = maskTokens(ids.i32, gen, {
    maskId: tok.unkId,
    vocabSize: tok.vocabSize,
    specialIds,
    maskProb,
    firstRandomId: 4, // past the specials
  });
  if (m.labels.every((l) => l === IGNORE_INDEX)) {
    const i = ids.i32.findIndex((t) => !specialIds.has(t));
    if (i >= 0) [m.labels[i], m.input[i]] = [ids.i32[i], tok.unkId];
  }
  return { input: tensor(m.input, ids.shape), labels: tensor(m.labels, ids.shape) };
}

/**
 * Build the tokenizer, MaskedLM and TrainTask for masked-LM pre-training.
 * @throws Error naming --preset (unknown) or --data (no text to window).
 */
export function buildMLMTask(o: MLMTaskOptions): MLMTask {
  const presetName = o.preset ?? 'small';
  const preset = (classifierPresets as Record<string, object>)[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown preset '${presetName}' (known: ${Object.keys(classifierPresets).join(', ')})`,
    );
  const validTexts = o.validTexts ?? o.texts.filter((_, i) => i % 20 === 19);
  const trainTexts = o.validTexts ? o.texts : o.texts.filter((_, i) => i % 20 !== 19);
  const tokenizer = trainBPE(trainTexts, { vocabSize: o.vocabSize ?? 4000 });
  const maxLen = o.maxLen ?? 256;
  const train = textWindows(tokenizer, trainTexts, maxLen);
  const valid = textWindows(tokenizer, validTexts, maxLen).slice(0, 64);
  if (train.length === 0 || valid.length === 0)
    throw new Error(
      `--data: ${train.length} training and ${valid.length} validation windows; need some text in both`,
    );
  const config: MaskedLMConfig = {
    ...(preset as MaskedLMConfig),
    ...o.overrides,
    vocabSize: tokenizer.vocabSize,
    maxLen,
    padId: tokenizer.padId,
  };
  const generator = new Generator(o.seed);
  const model = new MaskedLM(config, generator);
  const batchLoss = (w: number[][], g: Generator) => {
    const { input, labels } = maskedBatch(w, tokenizer, g, o.maskProb);
    const n = labels.i32.reduce((a, l) => a + (l === IGNORE_INDEX ? 0 : 1), 0);
    return { loss: model.mlmLoss(input, labels), tokens: n };
  };
  return {
    model,
    tokenizer,
    generator,
    trainWindows: train.length,
    dirConfig: { task: 'lm', model: 'MaskedLM', config: { ...model.maskedLMConfig() } },
    baseline: {
      metric: 'valid_loss',
      value: unigramCrossEntropy(train.flat(), valid.flat(), tokenizer.vocabSize),
      name: 'unigram baseline loss',
    },
    loss(step, micro) {
      const g = new Generator(o.seed * 1_000_003 + step * 64 + micro);
      const w = Array.from({ length: o.batchSize }, () => train[g.randint(train.length)]);
      return batchLoss(w, g);
    },
    evaluate() {
      const g = new Generator(o.seed + 1); // the same masks at every evaluation
      model.eval();
      let total = 0;
      let n = 0;
      noGrad(() => {
        for (let i = 0; i < valid.length; i += o.batchSize) {
          const r = batchLoss(valid.slice(i, i + o.batchSize), g);
          total += r.loss.item() * r.tokens;
          n += r.tokens;
        }
      });
      return total / Math.max(n, 1);
    },
  };
}

/** A pre-trained directory as fine-tuning needs it. */
export interface Pretrained {
  dir: string;
  cfg: ModelDirConfig;
  tokenizer: Tokenizer;
  /** The classifier fields it fixes: shapes, block options, maxLen, padId. */
  classifierConfig: Partial<EncoderClassifierConfig>;
}

/**
 * Read a `transformer pretrain` directory (a MaskedLM, or a DecoderLM).
 * @throws Error naming --init and the directory when it holds another model.
 */
export function readPretrained(dir: string): Pretrained {
  const cfg = readModelDirConfig(dir);
  const c = cfg.config;
  const pick = (keys: string[]) =>
    Object.fromEntries(keys.filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
  const block = [
    ...['dModel', 'nhead', 'numLayers', 'dimFeedforward', 'dropout', 'activation', 'normFirst'],
    ...['layerNormEps', 'norm', 'attention', 'heads', 'depth', 'position', 'vocabSize'],
  ];
  let classifierConfig: Partial<EncoderClassifierConfig>;
  if (cfg.model === 'MaskedLM') classifierConfig = pick([...block, 'maxLen', 'padId', 'pooling']);
  else if (cfg.model === 'DecoderLM')
    classifierConfig = {
      ...pick(block),
      position: (c.position as string | undefined) ?? 'learned', // DecoderLM's default
      maxLen: c.blockSize as number,
    };
  else
    throw new Error(
      `--init: '${dir}' holds a ${cfg.model} (${cfg.task}); fine-tuning needs a MaskedLM or DecoderLM written by 'transformer pretrain'`,
    );
  return { dir, cfg, tokenizer: loadDirTokenizer(join(dir, 'tokenizer.json')), classifierConfig };
}

/**
 * Copy a pre-trained body into a freshly built classifier (see the file's comment); the head
 * (`classifier.*`, `exits.*`) stays as initialized.
 * @returns the classifier tensors loaded and those left new.
 * @throws Error naming --init and both values when d_model, heads, layers, d_ff, vocabulary
 *   or the tokenizer differ; the shapes are checked again by loadStateDict.
 */
export function loadPretrainedEncoder(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  pre: Pretrained,
): { loaded: string[]; fresh: string[] } {
  const c = model.config as unknown as Record<string, unknown>;
  const p = pre.classifierConfig as Record<string, unknown>;
  for (const k of ['dModel', 'nhead', 'numLayers', 'dimFeedforward', 'vocabSize', 'maxLen'])
    if (p[k] !== undefined && p[k] !== c[k])
      throw new Error(
        `--init ${pre.dir}: the pre-trained model has ${k} ${String(p[k])}, the classifier ${String(c[k])} (leave ${k} to the pre-trained model)`,
      );
  if (JSON.stringify(tokenizer.toJSON()) !== JSON.stringify(pre.tokenizer.toJSON()))
    throw new Error(
      `--init ${pre.dir}: the classifier's tokenizer differs from the pre-trained one (${pre.dir}/tokenizer.json); fine-tune with the pre-trained tokenizer`,
    );
  const path = join(pre.dir, 'model.safetensors');
  const sd = new Map<string, { shape: number[]; data: Float32Array }>();
  if (pre.cfg.model === 'MaskedLM') {
    const src = new MaskedLM(pre.cfg.config as unknown as MaskedLMConfig);
    loadModel(src, path);
    for (const [name, t] of src.stateDict())
      if (!name.startsWith('classifier.')) sd.set(name, { shape: [...t.shape], data: t.f32 });
  } else {
    const scale = 1 / Math.sqrt(model.config.dModel);
    for (const [name, t] of readSafetensors(path).tensors) {
      const to = name
        .replace(/^wte\./, 'tok_emb.')
        .replace(/^wpe\./, 'pos_emb.')
        .replace(/^blocks\.layers\./, 'encoder.layers.')
        .replace(/^ln_f\./, 'encoder.norm.');
      let data = toFloat32(t);
      if (to === 'tok_emb.weight') data = data.map((v) => v * scale);
      if (to !== name || to.startsWith('encoder.')) sd.set(to, { shape: t.shape, data });
    }
  }
  const own = model.stateDict();
  for (const name of sd.keys()) if (!own.has(name)) sd.delete(name); // e.g. ln_f of a post-LN LM
  model.loadStateDict(sd, false);
  const loaded = [...sd.keys()];
  return { loaded, fresh: [...own.keys()].filter((n) => !sd.has(n)) };
}
