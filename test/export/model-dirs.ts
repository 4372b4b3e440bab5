/** Small model directories for the export tests, built in place (random weights, no training). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { EncoderClassifier, type EncoderClassifierConfig } from '../../src/models/classifier.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../../src/models/seq2seq.js';
import { Generator } from '../../src/random.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { trainCharTokenizer, type Tokenizer } from '../../src/tokenizers/index.js';
import type { Module } from '../../src/nn/module.js';
import { makeSeq2SeqBatch } from '../../src/data/batching.js';
import { Adam } from '../../src/train/optim.js';
import * as F from '../../src/ops/index.js';
import { tensor, type Tensor } from '../../src/tensor.js';

/** A few Adam steps on `loss` (so that greedy outputs are not one token repeated). */
function fit(model: Module, steps: number, loss: (step: number) => Tensor): void {
  const opt = new Adam(model.parameters(), { lr: 2e-2 });
  model.train();
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    loss(s).backward();
    opt.step();
  }
  model.eval();
}

/** The text the character tokenizers are trained on (every prompt uses only its characters). */
export const TEXT = [
  'the quick brown fox jumps over the lazy dog.',
  'a cat sat on a mat; the dog ran away!',
  'zebras and yaks vex quirky whims.',
];

/** A fresh temporary directory. */
export function tempDir(stem: string): string {
  return mkdtempSync(join(tmpdir(), `${stem}-`));
}

/** A model directory built here: its path, the model in memory (eval mode) and its tokenizer. */
export interface ModelDir<M extends Module> {
  dir: string;
  model: M;
  tok: Tokenizer;
}

function save(model: Module, tok: Tokenizer, cfg: Parameters<typeof saveModelDir>[1]): string {
  const dir = tempDir('tts-export-model');
  saveModelDir(dir, cfg, model, tok);
  return dir;
}

/**
 * A tiny decoder-only LM directory, trained 80 steps (batch 8) on TEXT (so that greedy continuations
 * vary and logits are far from ties).
 * @param over config fields to change (norm, position, activation...)
 * @param steps training steps (0: random weights)
 */
export function lmDir(over: Partial<DecoderLMConfig> = {}, steps = 80): ModelDir<DecoderLM> {
  const tok = trainCharTokenizer(TEXT);
  const config: DecoderLMConfig = {
    vocabSize: tok.vocabSize,
    blockSize: 24,
    dModel: 16,
    nhead: 2,
    numLayers: 2,
    dropout: 0,
    ...over,
  };
  const model = new DecoderLM(config, new Generator(5));
  const ids = tok.encode(TEXT.join(' '));
  const T = config.blockSize;
  fit(model, steps, (s) => {
    const starts = Array.from({ length: 8 }, (_, j) => ((s * 8 + j) * 13) % (ids.length - T - 1));
    const x = tensor(
      starts.map((a) => ids.slice(a, a + T)),
      undefined,
      'int32',
    ); // (8, T)
    const y = tensor(
      starts.flatMap((a) => ids.slice(a + 1, a + T + 1)),
      undefined,
      'int32',
    );
    return F.crossEntropy(F.reshape(model.forward(x), [8 * T, -1]), y);
  });
  const cfg = { task: 'lm' as const, model: 'DecoderLM', config: { ...config } };
  return { dir: save(model, tok, cfg), model, tok };
}

/** A tiny encoder classifier directory with labels neg / neutral / pos. */
export function classifierDir(
  over: Partial<EncoderClassifierConfig> = {},
): ModelDir<EncoderClassifier> {
  const tok = trainCharTokenizer(TEXT);
  const config: EncoderClassifierConfig = {
    vocabSize: tok.vocabSize,
    numClasses: 3,
    dModel: 16,
    nhead: 2,
    numLayers: 2,
    maxLen: 32,
    ...over,
  };
  const model = new EncoderClassifier(config, new Generator(9));
  model.eval();
  const cfg = {
    task: 'classify' as const,
    model: 'EncoderClassifier',
    config: { ...config },
    labels: ['neg', 'neutral', 'pos'],
  };
  return { dir: save(model, tok, cfg), model, tok };
}

/**
 * A tiny encoder-decoder directory (joint character vocabulary), trained `steps` steps
 * (batch 8) to reverse the words of TEXT, so that its outputs vary and end with <eos>.
 */
export function seq2seqDir(
  over: Partial<Seq2SeqConfig> = {},
  steps = 100,
): ModelDir<Seq2SeqTransformer> {
  const tok = trainCharTokenizer(TEXT);
  const config: Seq2SeqConfig = {
    srcVocabSize: tok.vocabSize,
    tgtVocabSize: tok.vocabSize,
    dModel: 16,
    nhead: 2,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 32,
    maxLen: 40,
    dropout: 0,
    ...over,
  };
  const model = new Seq2SeqTransformer(config, new Generator(13));
  const words = TEXT.join(' ').split(' ');
  const ids = { padId: tok.padId, bosId: tok.bosId, eosId: tok.eosId };
  fit(model, steps, (s) => {
    const pairs = Array.from({ length: 8 }, (_, j) => {
      const w = tok.encode(words[(s * 8 + j) % words.length]);
      return { src: w, tgt: [...w].reverse() };
    });
    const b = makeSeq2SeqBatch(pairs, ids);
    const logits = F.reshape(model.forward(b.src, b.tgtIn), [-1, tok.vocabSize]);
    return F.crossEntropy(logits, F.reshape(b.tgtOut, [-1]), { ignoreIndex: tok.padId });
  });
  const cfg = { task: 'translate' as const, model: 'Seq2SeqTransformer', config: { ...config } };
  return { dir: save(model, tok, cfg), model, tok };
}
