/**
 * The encoder-decoder Transformer (src/models/seq2seq.ts) as the two ONNX graphs of Hugging
 * Face's Marian export, which transformers.js drives:
 *
 *   encoder_model.onnx
 *     inputs   input_ids (B, S) int64, attention_mask (B, S) int64 (1 = a real token)
 *     output   last_hidden_state (B, S, C) float32 (the memory)
 *   decoder_model_merged.onnx (always with a cache; an empty one at the first step)
 *     inputs   input_ids (B, T) int64 (target tokens), encoder_attention_mask (B, S) int64,
 *              encoder_hidden_states (B, S, C) float32,
 *              past_key_values.{i}.decoder.key / .value (B, H, P, D) float32
 *     outputs  logits (B, T, V) float32, present.{i}.decoder.key / .value (B, H, P + T, D)
 *
 * The cross-attention keys and values are recomputed from encoder_hidden_states at every
 * step (there are no `.encoder` cache entries; transformers.js feeds only the inputs a graph
 * declares). The graphs compute our model: embeddings times sqrt(d_model) plus the sinusoids
 * (Sec. 3.4-3.5), our layers (pre- or post-LN), the encoder's and decoder's final norms,
 * causal self-attention, padding keys masked, and the generator (tied or not, with its bias).
 *
 * Shape letters: B batch, S source length, T new target tokens, P cached target positions,
 * C d_model, H heads, D head width, V target vocabulary.
 */
import type { Seq2SeqTransformer } from '../models/seq2seq.js';
import { OPSET, OnnxGraph, parameterNames } from './onnx-graph.js';
import {
  additiveMask,
  decoderLayer,
  embedding,
  encoderLayer,
  linearModule,
  norm,
  type KV,
} from './onnx-layers.js';
import { cachePositions, causalMask, keyMask, positionEmbedding } from './onnx-masks.js';
import { requireExportable } from './support.js';

/** The decoder cache inputs and outputs of layer i, as Hugging Face names them. */
export function decoderCacheNames(i: number): { past: KV; present: KV } {
  return {
    past: { key: `past_key_values.${i}.decoder.key`, value: `past_key_values.${i}.decoder.value` },
    present: { key: `present.${i}.decoder.key`, value: `present.${i}.decoder.value` },
  };
}

/** Refuse what the graphs cannot compute exactly. @throws Error naming the option. */
function check(m: Seq2SeqTransformer): void {
  requireExportable('onnx', m.config, ['sinusoidal']);
  if (m.config.crossAttention !== 'final')
    throw new Error(
      `export --format onnx supports crossAttention 'final' only; this model uses '${m.config.crossAttention}'`,
    );
}

/** Token embedding times sqrt(d_model) plus the sinusoid rows at `positions`. @returns (B, L, C) */
function embed(
  g: OnnxGraph,
  m: Seq2SeqTransformer,
  weight: 'src' | 'tgt',
  ids: string,
  positions: string,
): string {
  const c = m.config;
  const tok = embedding(g, weight === 'src' ? m.srcTokEmb : m.tgtTokEmb, ids); // (B, L, C)
  const pos = positionEmbedding(g, m.positional, c.position, c.maxLen, c.dModel, positions);
  return g.op('Add', [tok, pos]);
}

/**
 * The encoder graph. @returns the .onnx file's bytes
 * @throws Error naming the option the graph cannot compute exactly.
 */
export function encoderToOnnx(m: Seq2SeqTransformer): Uint8Array {
  check(m);
  const c = m.config;
  const g = new OnnxGraph('encoder', parameterNames(m));
  const ids = g.input('input_ids', 'INT64', ['batch_size', 'encoder_sequence_length']);
  const am = g.input('attention_mask', 'INT64', ['batch_size', 'encoder_sequence_length']);
  const S = g.op('Reshape', [g.op('Shape', [ids], { start: 1, end: 2 }), g.ints([], [0])]);
  let x = embed(g, m, 'src', ids, g.op('Range', [g.ints([0], []), S, g.ints([1], [])]));
  const notPad = g.op('Not', [g.op('Equal', [ids, g.ints([c.padId], [])])]);
  const keep = g.op('And', [g.op('Unsqueeze', [notPad, g.ints([1, 2])]), keyMask(g, am)]);
  const mask = additiveMask(g, keep); // (B, 1, 1, S)
  const style = { normFirst: c.normFirst, activation: c.activation };
  const enc = m.transformer.encoder;
  for (const layer of enc.layers.items) x = encoderLayer(g, layer, x, mask, style).x;
  if (enc.norm) x = norm(g, x, enc.norm);
  g.output('last_hidden_state', x, 'FLOAT', ['batch_size', 'encoder_sequence_length', c.dModel]);
  return g.toBytes(OPSET, { model: 'Seq2SeqTransformer.encoder' }, 'transformer-ts encoder');
}

/**
 * The decoder graph with its self-attention cache. @returns the .onnx file's bytes
 * @throws Error naming the option the graph cannot compute exactly.
 */
export function decoderToOnnx(m: Seq2SeqTransformer): Uint8Array {
  check(m);
  const c = m.config;
  const H = c.nhead;
  const D = c.dModel / H;
  const g = new OnnxGraph('decoder', parameterNames(m));
  const ids = g.input('input_ids', 'INT64', ['batch_size', 'decoder_sequence_length']);
  const am = g.input('encoder_attention_mask', 'INT64', ['batch_size', 'encoder_sequence_length']);
  const memory = g.input('encoder_hidden_states', 'FLOAT', [
    'batch_size',
    'encoder_sequence_length',
    c.dModel,
  ]);
  const dec = m.transformer.decoder;
  const cacheDims = ['batch_size', H, 'past_decoder_sequence_length', D];
  dec.layers.items.forEach((_, i) => {
    const { past } = decoderCacheNames(i);
    g.input(past.key, 'FLOAT', cacheDims);
    g.input(past.value, 'FLOAT', cacheDims);
  });
  const pos = cachePositions(g, decoderCacheNames(0).past.key, ids);
  let x = embed(g, m, 'tgt', ids, pos.qpos); // (B, T, C)
  const selfMask = causalMask(g, pos, null); // (T, P + T)
  const memoryMask = additiveMask(g, keyMask(g, am)); // (B, 1, 1, S)
  const style = { normFirst: c.normFirst, activation: c.activation };
  const presentDims = ['batch_size', H, 'total_decoder_sequence_length', D];
  dec.layers.items.forEach((layer, i) => {
    const { past, present } = decoderCacheNames(i);
    const r = decoderLayer(g, layer, x, memory, selfMask, memoryMask, style, past);
    x = r.x;
    g.output(present.key, r.kv.key, 'FLOAT', presentDims);
    g.output(present.value, r.kv.value, 'FLOAT', presentDims);
  });
  if (dec.norm) x = norm(g, x, dec.norm);
  const logits = linearModule(g, x, m.generator); // (B, T, V)
  g.output('logits', logits, 'FLOAT', ['batch_size', 'decoder_sequence_length', c.tgtVocabSize]);
  return g.toBytes(OPSET, { model: 'Seq2SeqTransformer.decoder' }, 'transformer-ts decoder');
}
