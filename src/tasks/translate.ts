/**
 * Translation: the encoder-decoder Transformer (Vaswani et al. 2017) on sentence pairs,
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
import { beamSearch, greedyDecode } from '../decode/seq2seq.js';
import { corpusBleu } from '../metrics/index.js';
import { trainBPE, type Tokenizer } from '../tokenizers/index.js';
import { bucketBatches, makeSeq2SeqBatch } from '../data/index.js';
import type { TrainTask } from '../train/trainer.js';
import { loadModelDirInto, readModelDirConfig, type ModelDirConfig } from './modeldir.js';

export interface Pair {
  source: string;
  target: string;
}

export interface TranslateTaskOptions {
  train: Pair[];
  valid: Pair[];
  preset?: string;
  overrides?: Partial<Seq2SeqConfig>;
  /** Joint BPE vocabulary size. Default 4000. */
  vocabSize?: number;
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

export interface TranslateTask extends TrainTask {
  model: Seq2SeqTransformer;
  tokenizer: Tokenizer;
  generator: Generator;
  dirConfig: ModelDirConfig;
  /** Optimizer steps per epoch. */
  stepsPerEpoch: number;
  trainPairs: number;
}

type Encoded = { src: number[]; tgt: number[] };

/** Build tokenizer, model and TrainTask for translation. */
export function buildTranslateTask(o: TranslateTaskOptions): TranslateTask {
  const presetName = o.preset ?? 'compact';
  const preset = (
    seq2seqPresets as Record<string, Omit<Seq2SeqConfig, 'srcVocabSize' | 'tgtVocabSize'>>
  )[presetName];
  if (!preset)
    throw new Error(
      `--preset: unknown translation preset '${presetName}' (known: ${Object.keys(seq2seqPresets).join(', ')})`,
    );
  if (o.train.length === 0) throw new Error('--data: no training pairs');
  const texts = o.train.flatMap((p) => [p.source, p.target]);
  const tokenizer = trainBPE(texts, { vocabSize: o.vocabSize ?? 4000 });
  const maxLen = o.maxLen ?? 64;
  const encode = (pairs: Pair[]): Encoded[] =>
    pairs.map((p) => ({ src: tokenizer.encode(p.source), tgt: tokenizer.encode(p.target) }));
  const train = encode(o.train).filter(
    (e) =>
      e.src.length > 0 && e.tgt.length > 0 && e.src.length <= maxLen && e.tgt.length + 1 <= maxLen,
  );
  const valid = encode(o.valid).map((e) => ({
    src: e.src.slice(0, maxLen),
    tgt: e.tgt.slice(0, maxLen - 1),
  }));
  const config: Seq2SeqConfig = {
    ...preset,
    ...o.overrides,
    srcVocabSize: tokenizer.vocabSize,
    tgtVocabSize: tokenizer.vocabSize,
    maxLen: Math.max(maxLen + 2, 128),
    padId: tokenizer.padId,
  };
  const generator = new Generator(o.seed);
  const model = new Seq2SeqTransformer(config, generator);
  const V = tokenizer.vocabSize;
  const ids = { padId: tokenizer.padId, bosId: tokenizer.bosId, eosId: tokenizer.eosId };
  const lengths = train.map((e) => Math.max(e.src.length, e.tgt.length + 1));
  const epochCache = new Map<number, number[][]>();
  const epochBatches = (epoch: number): number[][] => {
    let b = epochCache.get(epoch);
    if (!b) {
      b = bucketBatches(lengths, {
        batchTokens: o.batchTokens,
        shuffle: true,
        generator: new Generator(o.seed * 7919 + epoch),
      });
      epochCache.clear();
      epochCache.set(epoch, b);
    }
    return b;
  };
  const stepsPerEpoch = epochBatches(0).length;
  const ls = o.labelSmoothing ?? 0.1;
  const lossOf = (items: Encoded[], smoothing: number) => {
    const batch = makeSeq2SeqBatch(
      items.map((e) => ({ src: e.src, tgt: e.tgt })),
      ids,
    );
    const logits = model.forward(batch.src, batch.tgtIn); // (B, T, V)
    const loss = F.crossEntropy(F.reshape(logits, [-1, V]), F.reshape(batch.tgtOut, [-1]), {
      ignoreIndex: ids.padId,
      labelSmoothing: smoothing,
    });
    return { loss, tokens: batch.ntokens };
  };
  const validBatches = bucketBatches(
    valid.map((e) => Math.max(e.src.length, e.tgt.length + 1)),
    { batchTokens: o.batchTokens, shuffle: false, generator: new Generator(0) },
  );
  const bleuN = Math.min(o.bleuSentences ?? 200, valid.length);
  return {
    model,
    tokenizer,
    generator,
    stepsPerEpoch,
    trainPairs: train.length,
    dirConfig: { task: 'translate', model: 'Seq2SeqTransformer', config: { ...config } },
    loss(step, micro) {
      const k = (step - 1) * (o.gradAccumSteps ?? 1) + micro; // batch index across epochs
      const batches = epochBatches(Math.floor(k / stepsPerEpoch));
      return lossOf(
        batches[k % stepsPerEpoch].map((i) => train[i]),
        ls,
      );
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
        tokenizer,
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
  model: Seq2SeqTransformer,
  tokenizer: Tokenizer,
  sources: number[][],
  o: { beam: number; maxLen: number; lengthPenalty?: number },
): string[] {
  const out: string[] = [];
  const ids = { bosId: tokenizer.bosId, eosId: tokenizer.eosId, maxLen: o.maxLen };
  for (let i = 0; i < sources.length; i += 32) {
    const chunk = sources.slice(i, i + 32);
    const src = makeSeq2SeqBatch(
      chunk.map((s) => ({ src: s, tgt: [] })),
      { padId: tokenizer.padId, bosId: tokenizer.bosId, eosId: tokenizer.eosId },
    ).src;
    const results =
      o.beam === 1
        ? greedyDecode(model, src, ids)
        : beamSearch(model, src, {
            ...ids,
            beamSize: o.beam,
            lengthPenalty: o.lengthPenalty ?? 0.6,
          }).map((h) => h[0].tokens);
    for (const toks of results) out.push(tokenizer.decode(toks, { skipSpecial: true }).trim());
  }
  return out;
}

/** Load a translation model directory. */
export async function loadTranslator(
  dir: string,
): Promise<{ model: Seq2SeqTransformer; tokenizer: Tokenizer }> {
  const cfg = readModelDirConfig(dir, 'translate');
  const model = new Seq2SeqTransformer(cfg.config as unknown as Seq2SeqConfig);
  const tokenizer = await loadModelDirInto(dir, model);
  return { model: model.eval(), tokenizer };
}

/** Translate sentences with a model directory. */
export async function translateTexts(
  dir: string,
  texts: string[],
  o: { beam: number; maxLen: number; lengthPenalty?: number },
): Promise<string[]> {
  const { model, tokenizer } = await loadTranslator(dir);
  const maxLen = Math.min(o.maxLen, model.config.maxLen - 1);
  return translateIds(
    model,
    tokenizer,
    texts.map((t) => tokenizer.encode(t).slice(0, maxLen)),
    { ...o, maxLen },
  );
}
