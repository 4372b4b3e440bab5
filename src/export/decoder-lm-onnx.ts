/**
 * The decoder-only LM (src/models/decoder-lm.ts) as one ONNX graph with a key/value cache,
 * under the input and output names of Hugging Face's GPT-2 export (optimum's
 * `decoder_model_merged` without the `use_cache_branch`), which transformers.js drives:
 *
 *   inputs   input_ids (B, T) int64, attention_mask (B, P + T) int64 (1 = attend),
 *            position_ids (B, T) int64, past_key_values.{i}.key / .value (B, H, P, D) float32
 *   outputs  logits (B, T, V) float32, present.{i}.key / .value (B, H, P + T, D) float32
 *
 * The graph computes our model: token embedding + absolute positions (learned wpe or the
 * sinusoid table, Sec. 3.5) gathered at position_ids, our encoder layers (pre- or post-LN,
 * our activation) under the causal mask (query P + t sees keys s <= P + t) and the
 * attention_mask, ln_f, and the LM head tied to wte. With one unpadded sequence and
 * position_ids P .. P + T - 1 it equals DecoderLM.forward(idx, caches, P).
 *
 * Shape letters: B batch, T new tokens, P cached positions, S = P + T, C d_model, H heads,
 * D head width, V vocabulary.
 */
import {
  LearnedPositionalEmbedding,
  sinusoidTable,
  type PositionalEncoding,
} from '../nn/positional.js';
import type { DecoderLM } from '../models/decoder-lm.js';
import { OnnxGraph, parameterNames } from './onnx-graph.js';
import { additiveMask, encoderLayer, norm, type KV } from './onnx-layers.js';
import { requireExportable } from './support.js';

/** The opset of every exported graph (LayerNormalization needs 17). */
export const OPSET = 17;

/** The cache inputs and outputs of layer i, as Hugging Face names them. */
export function cacheNames(i: number): { past: KV; present: KV } {
  return {
    past: { key: `past_key_values.${i}.key`, value: `past_key_values.${i}.value` },
    present: { key: `present.${i}.key`, value: `present.${i}.value` },
  };
}

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

/**
 * Build the ONNX model of a decoder-only LM.
 * @returns the .onnx file's bytes
 * @throws Error naming the option when the model uses an attention, heads, depth or position
 *   the graph cannot compute exactly (only 'full', 'standard', 'fixed', 'learned' or
 *   'sinusoidal').
 */
export function decoderLMToOnnx(lm: DecoderLM): Uint8Array {
  const c = lm.config;
  requireExportable('onnx', c, ['learned', 'sinusoidal']);
  const H = c.nhead;
  const D = c.dModel / H;
  const L = lm.blocks.layers.items.length;
  const g = new OnnxGraph('decoder_lm', parameterNames(lm));
  const ids = g.input('input_ids', 'INT64', ['batch_size', 'sequence_length']);
  const am = g.input('attention_mask', 'INT64', ['batch_size', 'total_sequence_length']);
  const pos = g.input('position_ids', 'INT64', ['batch_size', 'sequence_length']);
  const cacheDims = ['batch_size', H, 'past_sequence_length', D];
  for (let i = 0; i < L; i++) {
    const { past } = cacheNames(i);
    g.input(past.key, 'FLOAT', cacheDims);
    g.input(past.value, 'FLOAT', cacheDims);
  }
  const tok = g.op('Gather', [g.weight(lm.wte.weight), ids], { axis: 0 }); // (B, T, C)
  let x = g.op('Add', [tok, positionEmbedding(g, lm.wpe, c.position, c.blockSize, c.dModel, pos)]);
  const mask = causalMask(g, cachePositions(g, cacheNames(0).past.key, ids), am);
  const style = { normFirst: c.normFirst, activation: c.activation };
  const presentDims = ['batch_size', H, 'total_sequence_length', D];
  lm.blocks.layers.items.forEach((layer, i) => {
    const { past, present } = cacheNames(i);
    const r = encoderLayer(g, layer, x, mask, style, past);
    x = r.x;
    g.output(present.key, r.kv.key, 'FLOAT', presentDims);
    g.output(present.value, r.kv.value, 'FLOAT', presentDims);
  });
  const h = norm(g, x, lm.lnF); // (B, T, C)
  const wteT = g.op('Transpose', [g.weight(lm.wte.weight)], { perm: [1, 0] }); // (C, V), tied
  const logits = g.op('MatMul', [h, wteT]); // (B, T, V)
  g.output('logits', logits, 'FLOAT', ['batch_size', 'sequence_length', c.vocabSize]);
  return g.toBytes(OPSET, { model: 'DecoderLM' }, 'transformer-ts DecoderLM');
}
