/**
 * The real (non-padded) positions of a batch, from a key padding mask (PyTorch's
 * `key_padding_mask` convention: bool true, or a nonzero float such as -Infinity, = padded).
 * What the statistics of BatchNorm, ACT's ponder cost and the conditional-computation
 * budget average over.
 *
 * Shape letters: B batch, L length.
 */
import type { Tensor } from '../tensor.js';
import { fmtShape } from '../tensor.js';

/**
 * 1 for a real position, 0 for a padded one, and their count.
 * @param padding (B, L) key padding mask, or null/undefined (every position real).
 * @throws Error naming both shapes when the mask is not (B, L).
 */
export function realPositions(
  padding: Tensor | null | undefined,
  B: number,
  L: number,
): { keep: Float32Array; n: number } {
  const keep = new Float32Array(B * L).fill(1);
  if (!padding) return { keep, n: B * L };
  if (padding.ndim !== 2 || padding.shape[0] !== B || padding.shape[1] !== L)
    throw new Error(`padding mask ${fmtShape(padding.shape)} must be (B, L) = (${B}, ${L})`);
  let n = 0;
  for (let i = 0; i < B * L; i++) {
    if (padding.data[i] !== 0) keep[i] = 0;
    n += keep[i];
  }
  return { keep, n };
}
