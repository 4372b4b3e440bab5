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
import type { DecoderLM } from '../models/decoder-lm.js';
import { OPSET, OnnxGraph, parameterNames } from './onnx-graph.js';
import { embedding, encoderLayer, norm, type KV } from './onnx-layers.js';
import { cachePositions, causalMask, positionEmbedding } from './onnx-masks.js';
import { requireExportable } from './support.js';

/** The cache inputs and outputs of layer i, as Hugging Face names them. */
export function cacheNames(i: number): { past: KV; present: KV } {
  return {
    past: { key: `past_key_values.${i}.key`, value: `past_key_values.${i}.value` },
    present: { key: `present.${i}.key`, value: `present.${i}.value` },
  };
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
  const tok = embedding(g, lm.wte, ids); // (B, T, C)
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
