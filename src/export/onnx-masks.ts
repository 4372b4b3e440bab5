/**
 * Positions and attention masks inside the exported graphs: absolute position encodings
 * gathered at position ids (learned or the sinusoids, Sec. 3.5), the positions of new tokens
 * after a key/value cache, the causal mask with a cache (Sec. 3.2.3), and key padding masks
 * from Hugging Face's `attention_mask` (1 = attend).
 *
 * Shape letters: B batch, T new tokens, P cached positions, S = P + T keys, C d_model.
 */
import {
  LearnedPositionalEmbedding,
  sinusoidTable,
  type PositionalEncoding,
} from '../nn/positional.js';
import type { OnnxGraph } from './onnx-graph.js';
import { additiveMask } from './onnx-layers.js';

/**
 * Gather absolute position encodings at `positions` (learned wpe, or the sinusoid table as
 * a constant). @returns (B, T, C)
 */
export function positionEmbedding(
  g: OnnxGraph,
  wpe: PositionalEncoding,
  position: string,
  maxLen: number,
  C: number,
  positions: string,
): string {
  const table =
    wpe instanceof LearnedPositionalEmbedding && position === 'learned'
      ? g.weight(wpe.weight)
      : g.floats('sinusoid_table', [maxLen, C], sinusoidTable(maxLen, C).f32);
  return g.op('Gather', [table, positions], { axis: 0 });
}

/**
 * Positions when decoding with a cache: P (from a cache input's dims), S = P + T, and the
 * new tokens' absolute positions P .. P + T - 1.
 * @param past a cache input (B, H, P, D) @param ids (B, T)
 * @returns int64 scalars P and S, and qpos (T) int64
 */
export function cachePositions(
  g: OnnxGraph,
  past: string,
  ids: string,
): { P: string; S: string; qpos: string } {
  const scalar = (v: string): string => g.op('Reshape', [v, g.ints([], [0])]);
  const P = scalar(g.op('Shape', [past], { start: 2, end: 3 }));
  const T = scalar(g.op('Shape', [ids], { start: 1, end: 2 }));
  const S = g.op('Add', [P, T]);
  return { P, S, qpos: g.op('Range', [P, S, g.ints([1], [])]) };
}

/**
 * The causal mask of decoding with a cache, with the key padding of `attentionMask` when
 * given: query t (absolute position P + t) may attend key s when s <= P + t (and
 * attentionMask[b, s] = 1). Additive, (B, 1, T, S) with a mask, else (T, S).
 * @param attentionMask (B, S) int64 or null
 */
export function causalMask(
  g: OnnxGraph,
  pos: { S: string; qpos: string },
  attentionMask: string | null,
): string {
  const kpos = g.op('Range', [g.ints([0], []), pos.S, g.ints([1], [])]); // (S)
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [kpos, g.ints([0])]), // (1, S)
    g.op('Unsqueeze', [pos.qpos, g.ints([1])]), // (T, 1)
  ]); // (T, S)
  if (!attentionMask) return additiveMask(g, causal);
  return additiveMask(g, g.op('And', [causal, keyMask(g, attentionMask)])); // (B, 1, T, S)
}

/** attention_mask (B, S) int64 (1 = attend) as bool (B, 1, 1, S). */
export function keyMask(g: OnnxGraph, attentionMask: string): string {
  const m = g.op('Unsqueeze', [attentionMask, g.ints([1, 2])]); // (B, 1, 1, S)
  return g.op('Cast', [m], { to: 9 }); // BOOL
}
