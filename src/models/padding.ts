/** The key padding mask of token ids (PyTorch's `key_padding_mask` convention). */
import { Tensor, zeros } from '../tensor.js';

/**
 * Bool (B, L) mask, true where ids == padId (those keys are ignored by attention).
 * @param ids (B, L) int32 token ids.
 */
export function paddingMask(ids: Tensor, padId: number): Tensor {
  const m = zeros(ids.shape, 'bool');
  const d = ids.i32;
  for (let i = 0; i < d.length; i++) m.data[i] = d[i] === padId ? 1 : 0;
  return m;
}
