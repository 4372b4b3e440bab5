/**
 * Exposure bias, measured (Ranzato et al. 2016, Sec. 1; Bengio et al. 2015, Sec. 1): a model
 * trained with teacher forcing only ever reads the gold prefix y_<t, but at test time it reads
 * its own predictions, whose errors it never saw in training. Per target position t this
 * module scores the gold token y_t two ways on held-out pairs:
 *
 * - teacher forced: -log p(y_t | y_<t, x), and whether argmax p(. | y_<t, x) = y_t (the
 *   validation loss of training, split by position);
 * - free running: -log p(y_t | y^_<t, x) where y^ is the model's own greedy prefix (the
 *   decoder reads its previous argmax, as greedy decoding does, and keeps going past an early
 *   end of sentence until the gold length), and whether its argmax is y_t.
 *
 * If errors compound, the free-running numbers fall away from the teacher-forced ones as t
 * grows; a scheduled-sampling model should show a smaller gap. Predictions never pick the
 * padding id (as greedy decoding). Every model with the Seq2SeqModel interface works (the
 * Transformer and the RNN encoder-decoders).
 *
 * Shape letters: B batch, S source length, T target length (tokens + end of sentence),
 * V target vocabulary. Losses in nats per token.
 */
import { noGrad } from '../autograd.js';
import { tensor, type Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { makeSeq2SeqBatch, type Seq2SeqIds } from '../data/index.js';
import type { Seq2SeqModel } from '../decode/seq2seq.js';
import { argmaxNotPad } from './two-pass-sampling.js';

/** One target position's scores (position 0 is the first token after bos). */
export interface PositionScores {
  position: number;
  /** Gold (non-padding) tokens at this position. */
  count: number;
  teacherForcedLoss: number;
  teacherForcedAccuracy: number;
  freeRunningLoss: number;
  freeRunningAccuracy: number;
}

/** Token-weighted means over all positions. */
export interface ExposureSummary {
  tokens: number;
  teacherForcedLoss: number;
  teacherForcedAccuracy: number;
  freeRunningLoss: number;
  freeRunningAccuracy: number;
}

export interface ExposureBiasResult {
  positions: PositionScores[];
  overall: ExposureSummary;
}

/** Running sums of one position. */
interface Sums {
  count: number;
  tfLoss: number;
  tfHits: number;
  frLoss: number;
  frHits: number;
}

/**
 * Per-position loss and accuracy of the gold target under teacher forcing and under the
 * model's own greedy prefix, on `pairs` (token ids, no bos/eos), in evaluation mode without
 * gradients (the model's training flag is restored).
 * @param pairs source and target ids of each example.
 * @param ids pad, bos and eos ids of the target vocabulary.
 * @param o.batchSize pairs per batch (default 32).
 * @throws Error if pairs is empty or a source is empty.
 */
export function exposureBias(
  model: Seq2SeqModel,
  pairs: readonly { src: readonly number[]; tgt: readonly number[] }[],
  ids: Seq2SeqIds,
  o: { batchSize?: number } = {},
): ExposureBiasResult {
  if (pairs.length === 0) throw new Error('exposureBias: no pairs');
  const empty = pairs.findIndex((p) => p.src.length === 0);
  if (empty >= 0) throw new Error(`exposureBias: pair ${empty} has an empty source`);
  const bs = o.batchSize ?? 32;
  const sums: Sums[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let i = 0; i < pairs.length; i += bs) {
        const batch = makeSeq2SeqBatch(pairs.slice(i, i + bs), ids);
        scoreBatch(model, batch.src, batch.tgtIn, batch.tgtOut, ids.padId, sums);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  const positions = sums.map((s, position) => ({
    position,
    count: s.count,
    teacherForcedLoss: s.tfLoss / s.count,
    teacherForcedAccuracy: s.tfHits / s.count,
    freeRunningLoss: s.frLoss / s.count,
    freeRunningAccuracy: s.frHits / s.count,
  }));
  const total = (k: keyof Sums): number => sums.reduce((a, s) => a + s[k], 0);
  const n = total('count');
  return {
    positions,
    overall: {
      tokens: n,
      teacherForcedLoss: total('tfLoss') / n,
      teacherForcedAccuracy: total('tfHits') / n,
      freeRunningLoss: total('frLoss') / n,
      freeRunningAccuracy: total('frHits') / n,
    },
  };
}

/**
 * Positions grouped into buckets (e.g. [1, 6, 11, 21] for 1-5, 6-10, 11-20, 21+ counting from
 * 1), token-weighted. @returns one summary per bucket with its label.
 */
export function bucketPositions(
  positions: readonly PositionScores[],
  starts: readonly number[],
): (ExposureSummary & { bucket: string })[] {
  return starts.map((start, k) => {
    const end = k + 1 < starts.length ? starts[k + 1] - 1 : Infinity;
    const inside = positions.filter((p) => p.position + 1 >= start && p.position + 1 <= end);
    const n = inside.reduce((a, p) => a + p.count, 0);
    const mean = (f: (p: PositionScores) => number): number =>
      n === 0 ? NaN : inside.reduce((a, p) => a + f(p) * p.count, 0) / n;
    return {
      bucket: end === Infinity ? `${start}+` : `${start}-${end}`,
      tokens: n,
      teacherForcedLoss: mean((p) => p.teacherForcedLoss),
      teacherForcedAccuracy: mean((p) => p.teacherForcedAccuracy),
      freeRunningLoss: mean((p) => p.freeRunningLoss),
      freeRunningAccuracy: mean((p) => p.freeRunningAccuracy),
    };
  });
}

/** Both passes over one batch, added into `sums` by position. */
function scoreBatch(
  model: Seq2SeqModel,
  src: Tensor,
  tgtIn: Tensor,
  tgtOut: Tensor,
  padId: number,
  sums: Sums[],
): void {
  const [B, T] = tgtIn.shape;
  const V = model.config.tgtVocabSize;
  const { memory, srcPadMask } = model.encode(src); // (B, S, C), (B, S)
  const gold = tgtOut.i32;
  for (let t = sums.length; t < T; t++)
    sums.push({ count: 0, tfLoss: 0, tfHits: 0, frLoss: 0, frHits: 0 });
  // Teacher forced: one pass over the gold prefix.
  const tf = F.logSoftmax(model.project(model.decode(tgtIn, memory, srcPadMask)), -1).f32; // (B, T, V)
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const y = gold[b * T + t];
      if (y === padId) continue;
      const row = tf.subarray((b * T + t) * V, (b * T + t + 1) * V);
      sums[t].count++;
      sums[t].tfLoss -= row[y];
      if (argmaxNotPad(row, padId) === y) sums[t].tfHits++;
    }
  // Free running: step by step, each row reading its own previous argmax.
  const caches = model.newCaches();
  let last = Array.from({ length: B }, (_, b) => tgtIn.i32[b * T]); // bos
  for (let t = 0; t < T; t++) {
    const step = tensor(Int32Array.from(last), [B, 1], 'int32');
    const hidden = model.decode(step, memory, srcPadMask, caches, t); // (B, 1, C)
    const lp = F.logSoftmax(model.project(hidden), -1).f32; // (B, 1, V)
    last = last.map((_, b) => {
      const row = lp.subarray(b * V, (b + 1) * V);
      const guess = argmaxNotPad(row, padId);
      const y = gold[b * T + t];
      if (y !== padId) {
        sums[t].frLoss -= row[y];
        if (guess === y) sums[t].frHits++;
      }
      return guess;
    });
  }
}
