/**
 * The encoder classifier (src/models/classifier.ts) as an ONNX graph under the input and
 * output names of Hugging Face's BERT sequence-classification export, which transformers.js
 * feeds:
 *
 *   inputs   input_ids (B, S) int64, attention_mask (B, S) int64 (1 = a real token)
 *   output   logits (B, K) float32
 *
 * The graph computes our model: token embedding (times sqrt(d_model)), absolute positions
 * (the sinusoid table, Sec. 3.5, or learned), our encoder layers (pre- or post-LN) with
 * padding keys masked, the final norm of pre-LN stacks, pooling ('cls': position 0; 'mean':
 * the mean over real tokens) and the classifier head. A position is padding when its id is
 * padId (as in our model) or its attention_mask is 0.
 *
 * Shape letters: B batch, S length, C d_model, K classes.
 */
import type { EncoderClassifier } from '../models/classifier.js';
import { OPSET, OnnxGraph, parameterNames } from './onnx-graph.js';
import { additiveMask, embedding, encoderLayer, linearModule, norm } from './onnx-layers.js';
import { positionEmbedding } from './onnx-masks.js';
import { requireExportable } from './support.js';

/** TensorProto.DataType BOOL and FLOAT, for Cast's `to`. */
const BOOL = 9;
const FLOAT = 1;

/**
 * Build the ONNX model of an encoder classifier.
 * @returns the .onnx file's bytes
 * @throws Error naming the option when the model uses an attention, heads, depth or position
 *   the graph cannot compute exactly.
 */
export function classifierToOnnx(m: EncoderClassifier): Uint8Array {
  const c = m.config;
  requireExportable('onnx', c, ['learned', 'sinusoidal']);
  const g = new OnnxGraph('encoder_classifier', parameterNames(m));
  const ids = g.input('input_ids', 'INT64', ['batch_size', 'sequence_length']);
  const am = g.input('attention_mask', 'INT64', ['batch_size', 'sequence_length']);
  const notPad = g.op('Not', [g.op('Equal', [ids, g.ints([c.padId], [])])]);
  const keep = g.op('And', [notPad, g.op('Cast', [am], { to: BOOL })]); // (B, S) bool
  const tok = embedding(g, m.tokEmb, ids); // (B, S, C)
  const S = g.op('Reshape', [g.op('Shape', [ids], { start: 1, end: 2 }), g.ints([], [0])]);
  const positions = g.op('Range', [g.ints([0], []), S, g.ints([1], [])]); // (S)
  let x = g.op('Add', [
    tok,
    positionEmbedding(g, m.posEmb, c.position, c.maxLen, c.dModel, positions),
  ]);
  const mask = additiveMask(g, g.op('Unsqueeze', [keep, g.ints([1, 2])])); // (B, 1, 1, S)
  const style = { normFirst: c.normFirst, activation: c.activation };
  for (const layer of m.encoder.layers.items) x = encoderLayer(g, layer, x, mask, style).x;
  if (m.encoder.norm) x = norm(g, x, m.encoder.norm); // (B, S, C)
  let pooled: string;
  if (c.pooling === 'cls') {
    pooled = g.op('Gather', [x, g.ints([0], [])], { axis: 1 }); // (B, C)
  } else {
    const w = g.op('Cast', [keep], { to: FLOAT }); // (B, S)
    const sum = g.op(
      'ReduceSum',
      [g.op('Mul', [x, g.op('Unsqueeze', [w, g.ints([2])])]), g.ints([1])],
      {
        keepdims: 0,
      },
    ); // (B, C)
    const count = g.op('ReduceSum', [w, g.ints([1])], { keepdims: 1 }); // (B, 1)
    pooled = g.op('Div', [sum, g.op('Max', [count, g.scalar(1)])]);
  }
  const logits = linearModule(g, pooled, m.classifier); // (B, K)
  g.output('logits', logits, 'FLOAT', ['batch_size', c.numClasses]);
  return g.toBytes(OPSET, { model: 'EncoderClassifier' }, 'transformer-ts EncoderClassifier');
}
