/**
 * Translation: the encoder-decoder Transformer (Vaswani et al. 2017), or an RNN
 * encoder-decoder (`arch` 'rnn': Cho et al. 2014 / Sutskever et al. 2014's fixed context;
 * 'rnn-attention': Bahdanau et al. 2015 / Luong et al. 2015, src/rnn/seq2seq.ts) on sentence pairs,
 * with a joint byte-level BPE vocabulary, teacher forcing, label smoothing (Sec. 5.4) and
 * batches of similar lengths. Validation reports the loss and corpus BLEU (sacreBLEU 13a).
 *
 * Batches are a pure function of the step: epoch e's batches are a shuffle seeded by
 * (seed, e) of length buckets, so a resumed run sees the same batches.
 */
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import * as F from '../ops/index.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../models/seq2seq.js';
import { seq2seqPresets } from '../models/presets.js';
import {
  beamSearch,
  greedyDecode,
  greedySteps,
  type Seq2SeqModel,
  type StepToken,
} from '../decode/seq2seq.js';
import { TextStreamer, streamText } from '../decode/text-stream.js';
import type { Tensor } from '../tensor.js';
import { RNNSeq2Seq, type RNNSeq2SeqConfig } from '../rnn/seq2seq.js';
import { corpusBleu } from '../metrics/index.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainBPE, type Tokenizer } from '../tokenizers/index.js';
import { bucketBatches, clipWithWarning, epochBatches, makeSeq2SeqBatch } from '../data/index.js';
import type { TrainTask } from '../train/trainer.js';
import {
  buildFromDir,
  loadDirTokenizer,
  loadModelDirInto,
  readModelDirConfig,
  type ModelDirConfig,
} from './modeldir.js';
import { unigramCrossEntropy, type Baseline } from './report.js';
import { withAuxiliaryLosses } from '../nn/stack.js';

export interface Pair {
  source: string;
  target: string;
}

/** The model family of a translation run (`train --arch`). */
export type TranslateArch = 'transformer' | 'rnn' | 'rnn-attention';

/**
 * The RNN encoder-decoders' sizes when not overridden: one GRU layer of 256 units over
 * 256-wide embeddings, dropout 0.1 (a small model in the spirit of Luong et al. 2015's
 * setups, scaled to the CLI's data sets).
 */
export const RNN_TRANSLATE_PRESET = {
  hiddenSize: 256,
  embedDim: 256,
  numLayers: 1,
  dropout: 0.1,
} as const;

/** The models a translation directory holds. */
export type TranslationModel = Seq2SeqTransformer | RNNSeq2Seq;

export interface TranslateTaskOptions {
  train: Pair[];
  valid: Pair[];
  preset?: string;
  overrides?: Partial<Seq2SeqConfig>;
  /** 'transformer' (default), 'rnn' (fixed context vector) or 'rnn-attention'. */
  arch?: TranslateArch;
  /**
   * RNNSeq2Seq fields over RNN_TRANSLATE_PRESET (cell, attention, window, bidirectional,
   * hiddenSize...) for the rnn archs; arch 'rnn' forces attention 'none', 'rnn-attention'
   * defaults to 'bahdanau'.
   */
  rnn?: Partial<RNNSeq2SeqConfig>;
  /**
   * Scheduled sampling (every arch): the teacher-forcing probability eps(i) at 0-based step i
   * (src/rnn/scheduled-sampling.ts); with 1 - eps(i) the RNN samples its own previous token,
   * the Transformer reads its first decoder pass's argmax (src/rnn/two-pass-sampling.ts).
   */
  teacherForcing?: (i: number) => number;
  /** BPE vocabulary size (of each vocabulary when separate). Default TRANSLATE_VOCAB (8000). */
  vocabSize?: number;
  /** Separate source and target vocabularies instead of one joint vocabulary. Default false. */
  separateVocab?: boolean;
  /** Tokens (padded, source + target) per batch. Default 4096. */
  batchTokens: number;
  /** Pairs longer than this (in tokens, either side) are dropped from training. Default 64. */
  maxLen?: number;
  /** Label smoothing epsilon (Sec. 5.4). Default 0.1. */
  labelSmoothing?: number;
  seed: number;
  /** Micro-batches per optimizer step (must match the Trainer's). Default 1. */
  gradAccumSteps?: number;
  /** Validation sentences translated (greedy) for BLEU at each evaluation. Default 200. */
  bleuSentences?: number;
}

/** Source and target tokenizers (the same object for a joint vocabulary). */
export interface Vocabs {
  src: Tokenizer;
  tgt: Tokenizer;
}

export interface TranslateTask extends TrainTask {
  model: TranslationModel;
  vocabs: Vocabs;
  generator: Generator;
  dirConfig: ModelDirConfig;
  /** Optimizer steps per epoch. */
  stepsPerEpoch: number;
  trainPairs: number;
  /** The unigram model's validation loss over target tokens (and </s>), to beat. */
  baseline: Baseline;
}

/** Training drops pairs longer than this many tokens on either side (TranslateTaskOptions.maxLen). */
export const TRAIN_PAIR_MAX_LEN = 64;

/**
 * The default BPE vocabulary size of translation (joint, or each when separate): 8000, chosen
 * with the default recipe on freedict-de-en's validation split (docs/translation-recipe.md).
 */
export const TRANSLATE_VOCAB = 8000;

/** A pair as token ids (the target without <bos> and </s>). */
export type EncodedPair = { src: number[]; tgt: number[] };
type Encoded = EncodedPair;

/** Encode pairs with the source and target tokenizers. */
function encodePairs(vocabs: Vocabs, pairs: readonly Pair[]): Encoded[] {
  return pairs.map((p) => ({ src: vocabs.src.encode(p.source), tgt: vocabs.tgt.encode(p.target) }));
}

/**
 * The training pairs as training sees them: encoded, without empty sides, and without pairs
 * longer than maxLen tokens on either side (the target counted with its </s>).
 */
export function encodeTrainPairs(
  vocabs: Vocabs,
  pairs: readonly Pair[],
  maxLen: number,
): Encoded[] {
  return encodePairs(vocabs, pairs).filter(
    (e) =>
      e.src.length > 0 && e.tgt.length > 0 && e.src.length <= maxLen && e.tgt.length + 1 <= maxLen,
  );
}

/** Each pair's padded cost for batching: max(source length, target length + 1). */
export function pairLengths(pairs: readonly Encoded[]): number[] {
  return pairs.map((e) => Math.max(e.src.length, e.tgt.length + 1));
}

/** Build tokenizer, model and TrainTask for translation. */
export function buildTranslateTask(o: TranslateTaskOptions): TranslateTask {
  const arch = o.arch ?? 'transformer';
  const presetName = o.preset ?? 'compact';
  if (arch !== 'transformer' && o.preset !== undefined)
    throw new Error(
      `--preset does not apply to --arch ${arch} (its sizes: hiddenSize, embedDim...)`,
    );
  if (arch === 'transformer' && o.rnn !== undefined)
    throw new Error('rnn options need --arch rnn or rnn-attention');
  const preset = (
    seq2seqPresets as Record<string, Omit<Seq2SeqConfig, 'srcVocabSize' | 'tgtVocabSize'>>
  )[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown translation preset '${presetName}' (known: ${Object.keys(seq2seqPresets).join(', ')})`,
    );
  if (o.train.length === 0) throw new Error('--data: no training pairs');
  const vocabSize = o.vocabSize ?? TRANSLATE_VOCAB;
  let vocabs: Vocabs;
  if (o.separateVocab) {
    vocabs = {
      src: trainBPE(
        o.train.map((p) => p.source),
        { vocabSize },
      ),
      tgt: trainBPE(
        o.train.map((p) => p.target),
        { vocabSize },
      ),
    };
  } else {
    const joint = trainBPE(
      o.train.flatMap((p) => [p.source, p.target]),
      { vocabSize },
    );
    vocabs = { src: joint, tgt: joint };
  }
  if (vocabs.src.padId !== vocabs.tgt.padId) {
    throw new Error(
      `translation: source and target pad ids differ (${vocabs.src.padId} vs ${vocabs.tgt.padId})`,
    );
  }
  const tokenizer = vocabs.tgt;
  const maxLen = o.maxLen ?? TRAIN_PAIR_MAX_LEN;
  const train = encodeTrainPairs(vocabs, o.train, maxLen);
  const valid = encodePairs(vocabs, o.valid).map((e) => ({
    src: e.src.slice(0, maxLen),
    tgt: e.tgt.slice(0, maxLen - 1),
  }));
  const fromData = {
    srcVocabSize: vocabs.src.vocabSize,
    tgtVocabSize: vocabs.tgt.vocabSize,
    maxLen: Math.max(maxLen + 2, 128),
    padId: tokenizer.padId,
  };
  const config: Seq2SeqConfig = { ...preset, ...o.overrides, ...fromData };
  const generator = new Generator(o.seed);
  const model: TranslationModel =
    arch === 'transformer'
      ? new Seq2SeqTransformer(config, generator)
      : new RNNSeq2Seq(
          {
            ...RNN_TRANSLATE_PRESET,
            ...(arch === 'rnn-attention' ? { attention: 'bahdanau' } : {}),
            ...o.rnn,
            ...(arch === 'rnn' ? { attention: 'none' } : {}),
            ...fromData,
          },
          generator,
        );
  const teacherForcing = o.teacherForcing;
  const V = tokenizer.vocabSize;
  const ids = { padId: tokenizer.padId, bosId: tokenizer.bosId, eosId: tokenizer.eosId };
  const lengths = pairLengths(train);
  const epochCache = new Map<number, number[][]>();
  const batchesOf = (epoch: number): number[][] => {
    let b = epochCache.get(epoch);
    if (!b) {
      b = epochBatches(lengths, o.batchTokens, o.seed, epoch);
      epochCache.clear();
      epochCache.set(epoch, b);
    }
    return b;
  };
  const stepsPerEpoch = batchesOf(0).length;
  const ls = o.labelSmoothing ?? 0.1;
  const lossOf = (items: Encoded[], smoothing: number, samplingProb = 0) => {
    const batch = makeSeq2SeqBatch(
      items.map((e) => ({ src: e.src, tgt: e.tgt })),
      ids,
    );
    const logits = model.forward(batch.src, batch.tgtIn, { samplingProb }); // (B, T, V)
    const loss = F.crossEntropy(F.reshape(logits, [-1, V]), F.reshape(batch.tgtOut, [-1]), {
      ignoreIndex: ids.padId,
      labelSmoothing: smoothing,
    });
    return { loss, tokens: batch.ntokens };
  };
  const validBatches = bucketBatches(pairLengths(valid), {
    batchTokens: o.batchTokens,
    shuffle: false,
    generator: new Generator(0),
  });
  const bleuN = Math.min(o.bleuSentences ?? 200, valid.length);
  return {
    model,
    vocabs,
    generator,
    stepsPerEpoch,
    trainPairs: train.length,
    baseline: {
      metric: 'valid_loss',
      value: unigramCrossEntropy(
        train.flatMap((e) => [...e.tgt, ids.eosId]),
        valid.flatMap((e) => [...e.tgt, ids.eosId]),
        V,
      ),
      name: 'unigram baseline loss',
    },
    dirConfig:
      model instanceof RNNSeq2Seq
        ? { task: 'translate', model: 'RNNSeq2Seq', config: { ...model.config } }
        : { task: 'translate', model: 'Seq2SeqTransformer', config: { ...config } },
    loss(step, micro) {
      const k = (step - 1) * (o.gradAccumSteps ?? 1) + micro; // batch index across epochs
      const batches = batchesOf(Math.floor(k / stepsPerEpoch));
      const r = lossOf(
        batches[k % stepsPerEpoch].map((i) => train[i]),
        ls,
        teacherForcing ? 1 - teacherForcing(step - 1) : 0,
      );
      return { loss: withAuxiliaryLosses(model, r.loss), tokens: r.tokens };
    },
    evaluate() {
      model.eval();
      let total = 0;
      let tokens = 0;
      noGrad(() => {
        for (const b of validBatches) {
          const r = lossOf(
            b.map((i) => valid[i]),
            0,
          );
          total += r.loss.item() * r.tokens;
          tokens += r.tokens;
        }
      });
      return total / Math.max(tokens, 1);
    },
    evaluateExtra(): Record<string, number> {
      if (bleuN === 0) return {};
      const hyps = translateIds(
        model,
        vocabs,
        valid.slice(0, bleuN).map((e) => e.src),
        { beam: 1, maxLen },
      );
      const refs = o.valid.slice(0, bleuN).map((p) => p.target);
      return { valid_bleu: corpusBleu(hyps, [refs]).score };
    },
  };
}

/**
 * Translate token-id sources in batches of 32 (greedy when beam is 1, else beam search).
 * @returns detokenized translations, one per source.
 */
export function translateIds(
  model: Seq2SeqModel,
  vocabs: Vocabs,
  sources: number[][],
  o: { beam: number; maxLen: number; lengthPenalty?: number },
): string[] {
  const out: string[] = [];
  const tokenizer = vocabs.tgt;
  const ids = { bosId: tokenizer.bosId, eosId: tokenizer.eosId, maxLen: o.maxLen };
  for (let i = 0; i < sources.length; i += 32) {
    const src = sourceBatch(tokenizer, sources.slice(i, i + 32));
    const results =
      o.beam === 1
        ? greedyDecode(model, src, ids)
        : beamSearch(model, src, {
            ...ids,
            beamSize: o.beam,
            lengthPenalty: o.lengthPenalty ?? DEFAULT_LENGTH_PENALTY,
          }).map((h) => h[0].tokens);
    for (const toks of results) out.push(tokenizer.decode(toks, { skipSpecial: true }).trim());
  }
  return out;
}

/** GNMT length penalty alpha of beam search by default (Vaswani et al. 2017, Sec. 6.1). */
export const DEFAULT_LENGTH_PENALTY = 0.6;

/** Decoding options of Translator.translate. */
export interface TranslateOptions {
  /** Beam size, 1 = greedy. Default 4. */
  beam?: number;
  /** Maximum output tokens. Default 100. */
  maxLen?: number;
  /** GNMT length penalty alpha. Default 0.6. */
  lengthPenalty?: number;
  /** Hears once how many sources were longer than the context and cut. */
  onWarning?: (message: string) => void;
}

/** A trained translation model with its vocabularies (loadTranslator). */
export interface Translator {
  task: 'translate';
  model: TranslationModel;
  /** Source and target tokenizers (one object for a joint vocabulary). */
  vocabs: Vocabs;
  /** The source (or joint) tokenizer. */
  tokenizer: Tokenizer;
  /**
   * Translate each text (one output per input).
   * @throws Error naming the input that encodes to no tokens (an empty text).
   */
  translate(texts: string[], o?: TranslateOptions): string[];
  /**
   * Translate one text, handing out the translation as it is decoded (greedy decoding, one
   * piece per token that completes text): the pieces join to what `translate([text], o)`
   * returns with the same options. Beam search (`o.beam` > 1) decides at its end, so it comes
   * as one piece. Default beam 1.
   * @throws Error (at once) when the text encodes to no tokens.
   */
  translateStream(text: string, o?: TranslateOptions): AsyncGenerator<string, void, undefined>;
}

/**
 * Load a translation model directory written by `transformer train --task translate`
 * (synchronous): tokenizer.json is the source (or joint) vocabulary, tokenizer_target.json
 * the target vocabulary when they are separate.
 * @throws Error naming the directory or the bad file.
 */
export function loadTranslator(dir: string): Translator {
  const cfg = readModelDirConfig(dir, 'translate');
  const model: TranslationModel = buildFromDir(dir, () =>
    cfg.model === 'RNNSeq2Seq'
      ? new RNNSeq2Seq(cfg.config as unknown as RNNSeq2SeqConfig)
      : new Seq2SeqTransformer(cfg.config as unknown as Seq2SeqConfig),
  );
  const src = loadModelDirInto(dir, model);
  const tgtPath = join(dir, TARGET_TOKENIZER);
  const tgt = existsSync(tgtPath) ? loadDirTokenizer(tgtPath) : src;
  return makeTranslator(model, { src, tgt });
}

/**
 * A Translator over a built model with its weights and vocabularies (what loadTranslator
 * returns; also used where the files do not come from a directory, as in the browser).
 * The model is put in eval mode.
 */
export function makeTranslator(model: TranslationModel, vocabs: Vocabs): Translator {
  const src = vocabs.src;
  model.eval();
  const translator: Translator = {
    task: 'translate',
    model,
    vocabs,
    tokenizer: src,
    translate(texts, o = {}) {
      const maxLen = Math.min(o.maxLen ?? 100, model.config.maxLen - 1);
      const encoded = texts.map((t, i) => {
        const s = src.encode(t);
        if (s.length === 0)
          throw new Error(
            `translate: input ${i + 1} of ${texts.length} is empty (it encodes to no tokens)`,
          );
        return s;
      });
      const ids = clipWithWarning(encoded, maxLen, 'start', o.onWarning);
      return translateIds(model, vocabs, ids, {
        beam: o.beam ?? 4,
        maxLen,
        lengthPenalty: o.lengthPenalty,
      });
    },
    translateStream(text, o = {}) {
      const beam = o.beam ?? 1;
      if (beam > 1) return oneShot(() => translator.translate([text], { ...o, beam })[0]);
      const maxLen = Math.min(o.maxLen ?? 100, model.config.maxLen - 1);
      const s = src.encode(text);
      if (s.length === 0)
        throw new Error('translate: the input is empty (it encodes to no tokens)');
      const [ids] = clipWithWarning([s], maxLen, 'start', o.onWarning);
      const tgt = vocabs.tgt;
      const steps = greedySteps(model, sourceBatch(tgt, [ids]), {
        bosId: tgt.bosId,
        eosId: tgt.eosId,
        maxLen,
      });
      return streamText(firstSource(steps), new TextStreamer(tgt, true));
    },
  };
  return translator;
}

/** The token ids of source 0 of a greedy step iterator (one source: one token a step). */
function* firstSource(steps: IterableIterator<StepToken[]>): IterableIterator<number> {
  for (const tokens of steps) yield tokens[0].token;
}

/** An async iterator of one piece, computed when first asked. */
async function* oneShot(piece: () => string): AsyncGenerator<string, void, undefined> {
  yield piece();
}

/** The (B, S) int32 source batch of token-id sources, padded with the tokenizer's padId. */
function sourceBatch(tokenizer: Tokenizer, sources: number[][]): Tensor {
  return makeSeq2SeqBatch(
    sources.map((s) => ({ src: s, tgt: [] })),
    { padId: tokenizer.padId, bosId: tokenizer.bosId, eosId: tokenizer.eosId },
  ).src;
}

/** File name of the target tokenizer when the vocabularies are separate. */
export const TARGET_TOKENIZER = 'tokenizer_target.json';

/** Translate sentences with a model directory. */
export function translateTexts(dir: string, texts: string[], o: TranslateOptions): string[] {
  return loadTranslator(dir).translate(texts, o);
}
