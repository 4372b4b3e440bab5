/**
 * Token selection from logits: greedy (argmax), and sampling with temperature, top-k
 * (Fan et al. 2018) and top-p / nucleus (Holtzman et al. 2020) filtering.
 */
import type { Generator } from '../random.js';

export interface SamplingOptions {
  /** Divide logits by this before softmax; 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  topP?: number;
}

/** Index of the largest logit (the first one on ties). */
export function argmaxRow(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Choose the next token from one row of logits (V).
 * @throws Error naming the option when temperature < 0, topK < 0 or topP not in (0, 1].
 */
export function sampleToken(
  logits: ArrayLike<number>,
  gen: Generator,
  opts: SamplingOptions = {},
): number {
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${temperature}`);
  if (!(Number.isInteger(topK) && topK >= 0))
    throw new Error(`topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  if (temperature === 0) return argmaxRow(logits);
  const V = logits.length;
  // Candidates sorted by logit, descending (stable: lower id first on ties).
  const order = Array.from({ length: V }, (_, i) => i).sort(
    (a, b) => logits[b] - logits[a] || a - b,
  );
  const k = topK > 0 ? Math.min(topK, V) : V;
  const max = logits[order[0]];
  const probs: number[] = [];
  let total = 0;
  for (let i = 0; i < k; i++) {
    const p = Math.exp((logits[order[i]] - max) / temperature);
    probs.push(p);
    total += p;
  }
  // Nucleus: the smallest prefix whose mass reaches topP.
  let keep = k;
  if (topP < 1) {
    let mass = 0;
    for (let i = 0; i < k; i++) {
      mass += probs[i] / total;
      if (mass >= topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += probs[i];
  let r = gen.uniform() * kept;
  for (let i = 0; i < keep; i++) {
    r -= probs[i];
    if (r < 0) return order[i];
  }
  return order[keep - 1];
}
