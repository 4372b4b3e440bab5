/**
 * Early-exit inference for the encoder classifier (survey Lin et al. 2021, Sec. 6.3): an
 * exit classifier after every encoder layer (EncoderClassifier with earlyExit), and each
 * example leaves the stack at the first layer i where
 *   - confidence (DeeBERT, Xin et al. 2020, Sec. 3.2, with the max-probability criterion):
 *     max_k softmax(z_i)_k >= threshold, or
 *   - patience (PABEE, Zhou et al. 2020, Sec. 3.1, Eq. 3-4): the prediction argmax z_i has
 *     stayed the same for `patience` consecutive layers (a counter that rises by one when
 *     layer i predicts what layer i - 1 predicted and resets to 0 otherwise; exit when it
 *     reaches `patience`, so the earliest patience exit is after layer patience + 1),
 * or at the last layer. The examples still running go on as a smaller batch, so the
 * layers an example skips are not computed.
 *
 * Shape letters: B batch, S length, C d_model, K classes, N layers.
 */
import { noGrad } from '../autograd.js';
import { Tensor, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import type { EncoderClassifier } from './classifier.js';

export interface EarlyExitOptions {
  /**
   * Exit when the exit's largest class probability is >= threshold, in [0, inf). Default
   * Infinity (never; > 1 never exits on confidence, 0 exits after the first layer).
   */
  threshold?: number;
  /**
   * PABEE's patience t, an integer >= 1: exit when the prediction has not changed for t
   * consecutive layers. Default Infinity (never).
   */
  patience?: number;
}

export interface EarlyExitResult {
  /** (B, K) the logits of the exit each example left by. */
  logits: Tensor;
  /** (B) the predicted class of each example. */
  predictions: Int32Array;
  /** (B) layers run for each example, in [1, N]. */
  layersRun: Int32Array;
}

/** Rows `rows` of t (any dtype, no gradient): (B, ...) -> (rows.length, ...). */
function takeRows(t: Tensor, rows: readonly number[]): Tensor {
  const n = t.size / t.shape[0];
  const out = zeros([rows.length, ...t.shape.slice(1)], t.dtype);
  rows.forEach((r, j) => out.data.set(t.data.subarray(r * n, (r + 1) * n), j * n));
  return out;
}

/**
 * Run the classifier layer by layer with early exits (DeeBERT confidence, PABEE patience).
 * Call it through EncoderClassifier.classifyEarlyExit (which refuses a model without exits).
 * Runs without gradients, in the model's current mode (eval() for inference).
 * @param ids (B, S) int32, padded with the model's padId.
 * @returns the exit logits (B, K), predictions (B) and layers run (B) per example.
 * @throws Error naming `threshold` or `patience` when out of range.
 */
export function classifyEarlyExit(
  model: EncoderClassifier,
  ids: Tensor,
  opts: EarlyExitOptions = {},
): EarlyExitResult {
  const threshold = opts.threshold ?? Infinity;
  const patience = opts.patience ?? Infinity;
  if (!(threshold >= 0))
    throw new Error(`classifyEarlyExit: threshold must be >= 0, got ${threshold}`);
  if (!(patience === Infinity || (Number.isInteger(patience) && patience >= 1)))
    throw new Error(`classifyEarlyExit: patience must be an integer >= 1, got ${patience}`);
  const K = model.config.numClasses;
  const layers = model.encoder.layers.items;
  return noGrad(() => {
    const { x, pad } = model.embed(ids);
    const B = ids.shape[0];
    const logits = zeros([B, K]);
    const predictions = new Int32Array(B);
    const layersRun = new Int32Array(B);
    const streak = new Int32Array(B); // PABEE's counter
    const previous = new Int32Array(B).fill(-1);
    let rows = Array.from({ length: B }, (_, b) => b); // the examples still running
    let h = x;
    let p = pad;
    for (let i = 0; i < layers.length && rows.length > 0; i++) {
      h = layers[i].forward(h, { srcKeyPaddingMask: p }); // (A, S, C)
      const z = model.exitLogits(i, h, p); // (A, K)
      const probs = F.softmax(z);
      const stay: number[] = [];
      rows.forEach((b, j) => {
        const row = probs.f32.subarray(j * K, (j + 1) * K);
        let best = 0;
        for (let k = 1; k < K; k++) if (row[k] > row[best]) best = k;
        streak[b] = best === previous[b] ? streak[b] + 1 : 0;
        previous[b] = best;
        if (row[best] >= threshold || streak[b] >= patience || i === layers.length - 1) {
          logits.f32.set(z.f32.subarray(j * K, (j + 1) * K), b * K);
          predictions[b] = best;
          layersRun[b] = i + 1;
        } else stay.push(j);
      });
      if (stay.length < rows.length && stay.length > 0) {
        h = takeRows(h, stay);
        p = takeRows(p, stay);
      }
      rows = stay.map((j) => rows[j]);
    }
    return { logits, predictions, layersRun };
  });
}
