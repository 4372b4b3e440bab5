/**
 * Key masks for the cores that never form a (T x S) score matrix over the raw keys (linear,
 * low-rank, compressed, induced and clustered attention): such a core can honour a bias that
 * depends on the key only (a key padding mask, (B, 1, 1, S)), not one that varies over
 * queries. These helpers check that, and turn the bias into the forms the cores use.
 *
 * Shape letters: B batch, H heads, S keys (the last S of the bias's columns).
 */
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';

/**
 * The bias restricted to its last S key columns, as a per-key (B|1, H|1, 1, S) tensor, or
 * null without a bias.
 * @param bias additive bias broadcastable to (B, H, T, S_total), or null.
 * @param S the keys the core attends (the last S columns: a decoding state's new ones).
 * @param who the core's name, for the message.
 * @throws Error when the bias varies over queries (not (B|1, H|1, 1, S_total)).
 */
export function keyBias(bias: Tensor | null, S: number, who: string): Tensor | null {
  if (!bias) return null;
  const s = bias.shape;
  const last = s[s.length - 1];
  if (bias.ndim !== 4 || s[2] !== 1 || last < S)
    throw new Error(
      `${who} attention: only a key padding mask ((B, 1, 1, S) bias) is supported, got a bias of shape ${fmtShape(s)}`,
    );
  return last === S ? bias : F.slice(bias, 3, last - S, last); // (B|1, H|1, 1, S)
}

/**
 * Which keys may be attended, as a 0/1 float (B|1, H|1, S, 1) tensor to multiply key rows
 * by (a padded key contributes nothing), or null when every key may be.
 * @throws Error as keyBias, or when the bias holds values other than 0 and -Infinity
 *   (only a padding mask can be applied by zeroing keys).
 */
export function keyKeep(bias: Tensor | null, S: number, who: string): Tensor | null {
  const b = keyBias(bias, S, who);
  if (!b) return null;
  const [b0, b1] = b.shape;
  const keep = zeros([b0, b1, S, 1]);
  const src = b.f32;
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    if (x !== 0 && x !== -Infinity)
      throw new Error(
        `${who} attention: a key mask must be 0 or -Infinity per key, got ${x} (a float bias cannot be applied to this core)`,
      );
    keep.f32[i] = x === 0 ? 1 : 0;
  }
  return keep;
}

/** x (a, b, L, d) with `after` zero rows added along L. */
export function padRowsAfter(x: Tensor, after: number): Tensor {
  if (after === 0) return x;
  const [a, b, , d] = x.shape;
  return F.concat([x, zeros([a, b, after, d])], 2); // (a, b, L + after, d)
}
