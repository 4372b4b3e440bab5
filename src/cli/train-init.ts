/**
 * The initialization options of `transformer train` (issue #18), applied to a built model
 * before training: --init-embeddings FILE (word vectors into the token embedding),
 * --freeze-embeddings, --freeze-layers K, and the optimizer groups of --layer-lr-decay.
 * and --init DIR (a pre-trained encoder, src/tasks/pretrain.ts).
 */
import { existsSync } from 'node:fs';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { fineTuneGroups, freezeParameters } from '../train/finetune.js';
import type { ParamGroup } from '../train/optim.js';
import { initEmbeddingRows } from '../vectors/init-embeddings.js';
import { WordVectors } from '../vectors/word-vectors.js';
import type { TrainCommandOptions } from './train-options.js';
import type { EncoderClassifier } from '../models/classifier.js';
import { loadPretrainedEncoder, readPretrained, type Pretrained } from '../tasks/pretrain.js';

/** The token embedding of a classifier (tok_emb) or language model (wte). */
function tokenEmbedding(model: Module): Tensor {
  const p = model.namedParameters().find(([n]) => n === 'tok_emb.weight' || n === 'wte.weight');
  if (!p) throw new Error('--init-embeddings: the model has no token embedding');
  return p[1];
}

/**
 * Apply --init-embeddings, --freeze-embeddings and --freeze-layers to a freshly built model
 * (a resumed run then loads its checkpoint over it).
 * @returns the lines to print (coverage "n of V rows", what is frozen).
 * @throws Error naming the option: a missing vectors file, a dimension mismatch (both
 *   dimensions), --freeze-embeddings without an initialization, K out of range.
 */
export function applyInitOptions(
  model: Module,
  tokenizer: Tokenizer,
  o: TrainCommandOptions,
  numLayers: number,
): string[] {
  const lines: string[] = [];
  if (o.initEmbeddings !== undefined) {
    if (!existsSync(o.initEmbeddings))
      throw new Error(`--init-embeddings: no such file '${o.initEmbeddings}'`);
    const vectors = WordVectors.load(o.initEmbeddings);
    const r = initEmbeddingRows(tokenEmbedding(model), tokenizer, vectors);
    lines.push(
      `--init-embeddings: initialized ${r.initialized} of ${r.rows} token embedding rows from ${o.initEmbeddings} (${vectors.words.length} words of dimension ${vectors.dim}); the other rows stay random`,
    );
  }
  if (o.freezeEmbeddings && o.initEmbeddings === undefined && o.init === undefined)
    throw new Error(
      '--freeze-embeddings: needs --init-embeddings FILE or --init DIR (a random embedding would stay random)',
    );
  if (o.freezeEmbeddings || o.freezeLayers) {
    const frozen = freezeParameters(model, {
      embeddings: o.freezeEmbeddings,
      layers: o.freezeLayers,
      numLayers,
    });
    const what = o.freezeLayers
      ? `the embeddings and layers 1-${o.freezeLayers} of ${numLayers}`
      : 'the token embedding';
    lines.push(`frozen: ${what} (${frozen.length} parameter tensors)`);
  }
  return lines;
}

/** The optimizer groups of a run: weight decay, frozen parameters left out, --layer-lr-decay. */
export function trainGroups(
  model: Module,
  weightDecay: number,
  o: TrainCommandOptions,
  numLayers: number,
): ParamGroup[] {
  return fineTuneGroups(model, weightDecay, { layerLrDecay: o.layerLrDecay, numLayers });
}

/**
 * --init DIR for classification: the pre-trained directory, the classifier fields it fixes
 * (merged under the run's --config overrides, which must agree), its tokenizer and maxLen.
 * @throws Error naming --preset or --init-embeddings given with --init (the pre-trained
 *   model fixes the shapes and the embedding), or a directory that is not pre-trained.
 */
export function pretrainedSetup(
  o: TrainCommandOptions,
  overrides: Record<string, unknown>,
): {
  pre?: Pretrained;
  overrides: Record<string, unknown>;
  tokenizer?: Tokenizer;
  maxLen?: number;
} {
  if (o.init === undefined) return { overrides };
  if (o.preset !== undefined)
    throw new Error('--preset does not apply with --init (the pre-trained model fixes the shapes)');
  if (o.initEmbeddings !== undefined)
    throw new Error('--init-embeddings does not apply with --init (the embedding is pre-trained)');
  const pre = readPretrained(o.init);
  const { vocabSize: _v, maxLen, padId: _p, ...fields } = pre.classifierConfig;
  return { pre, overrides: { ...fields, ...overrides }, tokenizer: pre.tokenizer, maxLen };
}

/**
 * Copy the pre-trained body into the classifier (loadPretrainedEncoder).
 * @returns the line to print: tensors loaded and the new ones.
 */
export function loadInit(model: EncoderClassifier, tokenizer: Tokenizer, pre: Pretrained): string {
  const { loaded, fresh } = loadPretrainedEncoder(model, tokenizer, pre);
  return `--init: loaded ${loaded.length} tensors of the pre-trained ${pre.cfg.model} in ${pre.dir}; new: ${fresh.join(', ')}`;
}
