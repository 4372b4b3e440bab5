/**
 * BERT's masked-language-model corruption (Devlin et al. 2019, Sec. 3.1 "Task #1: Masked
 * LM" and App. A.1): choose 15% of the (non-special) token positions at random; of those,
 * replace 80% with [MASK], 10% with a random token and leave 10% unchanged; the model is
 * trained to predict the original token at the chosen positions only.
 *
 * Shape letters: N tokens (any shape, flattened).
 */
import { Generator } from '../random.js';

/** The label of a position the loss ignores (PyTorch's cross_entropy ignore_index). */
export const IGNORE_INDEX = -100;

export interface MaskingOptions {
  /** The [MASK] token id. */
  maskId: number;
  /** Random replacements are drawn uniformly from [firstRandomId, vocabSize). */
  vocabSize: number;
  /** Ids never chosen (padding, [CLS], [SEP], ...). */
  specialIds?: ReadonlySet<number>;
  /** Fraction of positions chosen (0.15). */
  maskProb?: number;
  /** Of the chosen: fraction replaced by [MASK] (0.8) and by a random token (0.1). */
  replaceMaskProb?: number;
  replaceRandomProb?: number;
  /** Smallest id a random replacement may take (default: 0; set past the specials). */
  firstRandomId?: number;
}

/** A corrupted input and its labels. */
export interface MaskedBatch {
  /** The corrupted ids, same length as the input. */
  input: Int32Array;
  /** The original id at chosen positions, IGNORE_INDEX elsewhere. */
  labels: Int32Array;
}

/**
 * Corrupt token ids for masked-LM training (see the file's comment). Deterministic for a
 * given generator state.
 * @throws Error naming an option out of range.
 */
export function maskTokens(ids: Int32Array, gen: Generator, o: MaskingOptions): MaskedBatch {
  const p = o.maskProb ?? 0.15;
  const pMask = o.replaceMaskProb ?? 0.8;
  const pRand = o.replaceRandomProb ?? 0.1;
  const first = o.firstRandomId ?? 0;
  if (!(p >= 0 && p <= 1)) throw new Error(`maskTokens: maskProb must be in [0, 1], got ${p}`);
  if (!(pMask >= 0 && pRand >= 0 && pMask + pRand <= 1))
    throw new Error(`maskTokens: replaceMaskProb + replaceRandomProb must be in [0, 1]`);
  if (!(Number.isInteger(o.vocabSize) && first >= 0 && first < o.vocabSize))
    throw new Error(
      `maskTokens: need 0 <= firstRandomId < vocabSize, got ${first}, ${o.vocabSize}`,
    );
  const input = ids.slice();
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  for (let i = 0; i < ids.length; i++) {
    if (o.specialIds?.has(ids[i]) || gen.uniform() >= p) continue;
    labels[i] = ids[i];
    const u = gen.uniform();
    if (u < pMask) input[i] = o.maskId;
    else if (u < pMask + pRand) input[i] = first + gen.randint(o.vocabSize - first);
  }
  return { input, labels };
}
