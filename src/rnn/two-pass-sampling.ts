/**
 * Scheduled sampling for the Transformer (Bengio et al. 2015 as adapted by Mihaylova & Martins
 * 2019, "Scheduled Sampling for Transformers", Sec. 3, Fig. 1): the Transformer's decoder reads
 * all target positions at once, so the model's "own previous prediction" comes from a first
 * decoder pass:
 *
 * 1. first pass: decode the gold input y_<t with teacher forcing, without gradient, and take
 *    each position's most likely token (the paper's "argmax" variant);
 * 2. second pass: the decoder input at position t >= 1 is, with probability p (scheduled
 *    sampling's 1 - eps(i), src/rnn/scheduled-sampling.ts, the same schedule as the RNN's),
 *    the first pass's prediction for that position (its argmax at t - 1), else the gold token.
 *    The loss and the gradient come from this pass only.
 *
 * Position 0 (bos) and padding positions keep the gold token; the prediction never picks the
 * padding id (a padded key is masked out by the decoder). p = 0 skips the first pass: exactly
 * teacher forcing.
 *
 * Shape letters: B batch, S source length, T target length, C model width, V vocabulary.
 */
import { noGrad } from '../autograd.js';
import type { Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';

/** What the two passes need of an encoder-decoder (Seq2SeqTransformer has it). */
export interface TwoPassDecoder {
  readonly config: { readonly padId: number };
  /** @param tgt (B, T) int32 @returns hidden (B, T, C) */
  decode(tgt: Tensor, memory: Tensor, srcPadMask: Tensor | null): Tensor;
  /** (B, T, C) -> (B, T, V) */
  project(hidden: Tensor): Tensor;
}

/** Index of the largest value other than padId (the lowest index on ties). */
export function argmaxNotPad(row: Float32Array, padId: number): number {
  let best = -1;
  for (let i = 0; i < row.length; i++)
    if (i !== padId && (best < 0 || row[i] > row[best])) best = i;
  return best;
}

/**
 * Each position's most likely token other than the padding id.
 * @param logits (B, T, V) float32 @returns (B, T) int32
 * @throws Error if logits is not 3-dimensional.
 */
export function argmaxIds(logits: Tensor, padId: number): Tensor {
  if (logits.ndim !== 3)
    throw new Error(`argmaxIds: logits must be (B, T, V), got ${fmtShape(logits.shape)}`);
  const [B, T, V] = logits.shape;
  const x = logits.f32;
  const out = new Int32Array(B * T);
  for (let r = 0; r < B * T; r++) out[r] = argmaxNotPad(x.subarray(r * V, (r + 1) * V), padId);
  return new Tensor(out, [B, T]);
}

/**
 * The second pass's decoder input: per row b and position t >= 1 whose gold token is not
 * padding, with probability p the first pass's prediction for t (predicted[b, t - 1]), else
 * the gold tgtIn[b, t]. One uniform draw per such position, row-major.
 * @param tgtIn (B, T) int32 gold decoder input (bos first, padded with padId)
 * @param predicted (B, T) int32 the first pass's argmax per position (predicts tgtIn[:, t + 1])
 * @param p sampling probability in [0, 1]
 * @returns (B, T) int32
 * @throws Error if the shapes differ or p is outside [0, 1].
 */
export function mixDecoderInput(
  tgtIn: Tensor,
  predicted: Tensor,
  p: number,
  padId: number,
  generator: Generator,
): Tensor {
  if (tgtIn.ndim !== 2 || predicted.shape.join() !== tgtIn.shape.join())
    throw new Error(
      `mixDecoderInput: tgtIn ${fmtShape(tgtIn.shape)} and predicted ${fmtShape(predicted.shape)} must both be (B, T)`,
    );
  if (!(p >= 0 && p <= 1)) throw new Error(`mixDecoderInput: p must be in [0, 1], got ${p}`);
  const [B, T] = tgtIn.shape;
  const gold = tgtIn.i32;
  const pred = predicted.i32;
  const out = Int32Array.from(gold);
  for (let b = 0; b < B; b++)
    for (let t = 1; t < T; t++) {
      const i = b * T + t;
      if (gold[i] === padId) continue;
      if (generator.uniform() < p) out[i] = pred[i - 1];
    }
  return new Tensor(out, [B, T]);
}

/**
 * Both passes' input preparation: the first (teacher-forced, no gradient) pass and the mix.
 * @param memory (B, S, C) and srcPadMask (B, S) from the model's encode.
 * @param tgtIn (B, T) int32 gold decoder input.
 * @returns the second pass's decoder input (B, T) int32 (tgtIn itself when p is 0).
 */
export function twoPassDecoderInput(
  model: TwoPassDecoder,
  memory: Tensor,
  srcPadMask: Tensor | null,
  tgtIn: Tensor,
  p: number,
  generator: Generator,
): Tensor {
  if (!(p >= 0 && p <= 1))
    throw new Error(`scheduled sampling: probability must be in [0, 1], got ${p}`);
  if (p === 0) return tgtIn;
  const padId = model.config.padId;
  const predicted = noGrad(() =>
    argmaxIds(model.project(model.decode(tgtIn, memory, srcPadMask)), padId),
  ); // (B, T)
  return mixDecoderInput(tgtIn, predicted, p, padId, generator);
}
