/**
 * A relative-position bias (RelativeBias: ALiBi, T5) as a dense score bias, for the cores
 * and calls that take only a dense one (decoding, a mask to add to it, sparse patterns).
 * Apart from ./attention-mask.ts, which the attention ops import: this one needs the
 * embedding op for a learned bias's gradient.
 */
import { Tensor, empty } from '../tensor.js';
import type { RelativeBias } from './attention-mask.js';
import { embedding } from './functional.js';
import { permute, reshape } from './shape.js';

/**
 * The bias as a dense (1, H, T, S) tensor (for the cores that take only a dense bias).
 * @throws Error if diagonals is not (H, T + S - 1).
 */
export function relativeBiasDense(r: RelativeBias): Tensor {
  const { heads: H, T, S } = r;
  const n = Math.max(0, T + S - 1);
  if (r.diagonals.length !== H * n)
    throw new Error(
      `relativeBias: ${r.diagonals.length} diagonals for H ${H}, T ${T}, S ${S} (need ${H * n})`,
    );
  if (r.table) {
    // Differentiable: row (T - 1) + s - t of the table for score (t, s).
    const ids = new Int32Array(T * S);
    for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) ids[t * S + s] = T - 1 + s - t;
    const e = embedding(new Tensor(ids, [T, S]), r.table); // (T, S, H)
    return reshape(permute(e, [2, 0, 1]), [1, H, T, S]);
  }
  const out = empty([1, H, T, S]);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++)
      out.f32.set(r.diagonals.subarray(h * n + T - 1 - t, h * n + T - 1 - t + S), (h * T + t) * S);
  return out;
}
