/**
 * Our layers as ONNX subgraphs of standard operators (opset 17): Linear, the norms
 * (LayerNorm, RMSNorm, BatchNorm in eval mode), the FFN activations, multi-head attention
 * (Sec. 3.2.2, Eq. 1) with an optional key/value cache, and the encoder and decoder layers
 * with our norm placement (pre-LN x + Sublayer(LN(x)) or post-LN LN(x + Sublayer(x))). Each
 * computes exactly what the module's forward computes in eval mode (no dropout).
 *
 * Shape letters: B batch, T query length, P cached (past) length, S key length, C d_model,
 * H heads, D = C / H head width, F d_ff.
 */
import type { Tensor } from '../tensor.js';
import type { Activation } from '../nn/layers.js';
import { Embedding, LayerNorm, Linear, RMSNorm } from '../nn/layers.js';
import { BatchNorm } from '../nn/batchnorm.js';
import type { Norm } from '../nn/norms.js';
import type { MultiheadAttention } from '../nn/attention.js';
import type { TransformerDecoderLayer, TransformerEncoderLayer } from '../nn/transformer-layers.js';
import type { OnnxGraph } from './onnx-graph.js';

/** The additive score of a forbidden position: finite, so a fully masked row stays finite. */
export const MASKED = -1e30;

/**
 * y = x W^T + b (torch.nn.Linear) as Transpose + MatMul (+ Add).
 * @param x (..., in) @returns (..., out)
 */
export function linear(g: OnnxGraph, x: string, weight: Tensor, bias: Tensor | null): string {
  const y = g.op('MatMul', [x, g.op('Transpose', [g.weight(weight)], { perm: [1, 0] })]);
  return bias ? g.op('Add', [y, g.weight(bias)]) : y;
}

/**
 * Token embedding (Sec. 3.4): rows of the table at ids, times sqrt(d_model) when the module
 * scales (the paper's encoder-decoder and our classifier).
 * @param ids (B, L) int64 @returns (B, L, C)
 */
export function embedding(g: OnnxGraph, emb: Embedding, ids: string): string {
  const rows = g.op('Gather', [g.weight(emb.weight), ids], { axis: 0 }); // (B, L, C)
  return emb.scale ? g.op('Mul', [rows, g.scalar(Math.sqrt(emb.embeddingDim))]) : rows;
}

/** A Linear module's forward. */
export function linearModule(g: OnnxGraph, x: string, m: Linear): string {
  return linear(g, x, m.weight, m.bias);
}

/**
 * A norm over the last axis (x (B, L, C) -> (B, L, C)): LayerNormalization (opset 17);
 * RMSNorm as x * 1/sqrt(mean(x^2) + eps) * weight; BatchNorm with its running statistics
 * (eval mode) as (x - mean) * 1/sqrt(var + eps) * weight + bias.
 * @throws Error naming the norm when it is none of these.
 */
export function norm(g: OnnxGraph, x: string, n: Norm): string {
  if (n instanceof LayerNorm) {
    if (!n.weight || !n.bias) throw new Error('ONNX export: LayerNorm without affine parameters');
    const attrs = { axis: -1, epsilon: { f: n.eps } };
    return g.op('LayerNormalization', [x, g.weight(n.weight), g.weight(n.bias)], attrs);
  }
  if (n instanceof RMSNorm) {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 }); // (B, L, 1)
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalar(n.eps)])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), g.weight(n.weight)]);
  }
  if (n instanceof BatchNorm) {
    const centered = g.op('Sub', [x, g.weight(n.runningMean)]);
    const inv = g.op('Reciprocal', [
      g.op('Sqrt', [g.op('Add', [g.weight(n.runningVar), g.scalar(n.eps)])]),
    ]);
    return g.op('Add', [
      g.op('Mul', [g.op('Mul', [centered, inv]), g.weight(n.weight)]),
      g.weight(n.bias),
    ]);
  }
  throw new Error(`ONNX export: norm ${n.constructor.name} is not supported`);
}

/** relu, or the exact gelu x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (Hendrycks & Gimpel 2016). */
export function activation(g: OnnxGraph, x: string, kind: Activation): string {
  if (kind === 'relu') return g.op('Relu', [x]);
  const e = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [e, g.scalar(1)])]);
}

/** (B, L, C) -> (B, H, L, D) */
function splitHeads(g: OnnxGraph, x: string, H: number, D: number): string {
  const r = g.op('Reshape', [x, g.ints([0, 0, H, D])]); // (B, L, H, D)
  return g.op('Transpose', [r], { perm: [0, 2, 1, 3] }); // (B, H, L, D)
}

/** A key/value cache of one attention: (B, H, P, D) each. */
export interface KV {
  key: string;
  value: string;
}

/**
 * Multi-head attention (Sec. 3.2.2): packed in-projection, softmax(Q K^T / sqrt(D) + mask) V
 * per head (Eq. 1), out_proj.
 * @param query (B, T, C); memory (B, S, C) for cross-attention, null for self-attention
 * @param mask additive, broadcastable to (B, H, T, S) (0 allowed, MASKED forbidden), or null
 * @param past self-attention's cache (B, H, P, D); its keys/values precede this call's
 * @returns out (B, T, C) and the keys/values attended over (B, H, S, D) (the new cache)
 */
export function attention(
  g: OnnxGraph,
  mha: MultiheadAttention,
  query: string,
  memory: string | null,
  mask: string | null,
  past: KV | null = null,
): { out: string; kv: KV } {
  const H = mha.numHeads;
  const D = mha.headDim;
  const C = mha.embedDim;
  const w = g.op('Transpose', [g.weight(mha.inProjWeight)], { perm: [1, 0] }); // (C, 3C)
  const bias = mha.inProjBias ? g.weight(mha.inProjBias) : null;
  const proj = (x: string, wt: string, b: string | null): string => {
    const y = g.op('MatMul', [x, wt]); // (B, L, cols)
    return b ? g.op('Add', [y, b]) : y;
  };
  const thirds = g.ints([C, C, C]);
  // The in-projection's rows [0, C) make Q, [C, 2C) K, [2C, 3C) V.
  let qx: string, kx: string, vx: string; // (B, T, C), (B, S, C), (B, S, C)
  if (!memory) {
    // Self-attention: one GEMM for Q, K and V, then split (as our forward does).
    [qx, kx, vx] = g.opN('Split', [proj(query, w, bias), thirds], 3, { axis: -1 });
  } else {
    const [wq, wk, wv] = g.opN('Split', [w, thirds], 3, { axis: 1 }); // (C, C) each
    const [bq, bk, bv] = bias ? g.opN('Split', [bias, thirds], 3, { axis: 0 }) : [null, null, null];
    [qx, kx, vx] = [proj(query, wq, bq), proj(memory, wk, bk), proj(memory, wv, bv)];
  }
  const q = splitHeads(g, qx, H, D); // (B, H, T, D)
  let k = splitHeads(g, kx, H, D); // (B, H, S, D)
  let v = splitHeads(g, vx, H, D);
  if (past) {
    k = g.op('Concat', [past.key, k], { axis: 2 }); // (B, H, P + T, D)
    v = g.op('Concat', [past.value, v], { axis: 2 });
  }
  const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] }); // (B, H, D, S)
  let scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.scalar(1 / Math.sqrt(D))]); // (B, H, T, S)
  if (mask) scores = g.op('Add', [scores, mask]);
  const p = g.op('Softmax', [scores], { axis: -1 });
  const o = g.op('Transpose', [g.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] }); // (B, T, H, D)
  const merged = g.op('Reshape', [o, g.ints([0, 0, C])]); // (B, T, C)
  return { out: linearModule(g, merged, mha.outProj), kv: { key: k, value: v } };
}

/** The FFN of a layer, Sec. 3.3: linear2(act(linear1(x))). */
function feedForward(
  g: OnnxGraph,
  layer: TransformerEncoderLayer | TransformerDecoderLayer,
  x: string,
  act: Activation,
): string {
  return linearModule(g, activation(g, linearModule(g, x, layer.linear1), act), layer.linear2);
}

/** One residual sub-layer: pre-LN x + sub(norm(x)), post-LN norm(x + sub(x)). */
function residual(
  g: OnnxGraph,
  x: string,
  n: Norm,
  normFirst: boolean,
  sub: (y: string) => string,
): string {
  return normFirst ? g.op('Add', [x, sub(norm(g, x, n))]) : norm(g, g.op('Add', [x, sub(x)]), n);
}

/** Layer options the graph needs (the model's resolved config). */
export interface LayerStyle {
  normFirst: boolean;
  activation: Activation;
}

/**
 * Encoder layer (Sec. 3.1): self-attention then FFN, each residual with its norm.
 * @param x (B, T, C) @param mask additive (B, 1, T, S) or null @param past cache or null
 * @returns x (B, T, C) and the self-attention's keys/values (B, H, S, D)
 */
export function encoderLayer(
  g: OnnxGraph,
  layer: TransformerEncoderLayer,
  x: string,
  mask: string | null,
  style: LayerStyle,
  past: KV | null = null,
): { x: string; kv: KV } {
  let kv: KV = { key: '', value: '' };
  const sa = (y: string): string => {
    const r = attention(g, layer.selfAttn, y, null, mask, past);
    kv = r.kv;
    return r.out;
  };
  const h = residual(g, x, layer.norm1, style.normFirst, sa);
  const out = residual(g, h, layer.norm2, style.normFirst, (y) =>
    feedForward(g, layer, y, style.activation),
  );
  return { x: out, kv };
}

/**
 * Decoder layer (Sec. 3.1): masked self-attention, cross-attention over the memory, FFN.
 * @param x (B, T, C) @param memory (B, S, C) @param selfMask additive (B, 1, T, P + T)
 * @param memoryMask additive (B, 1, 1, S) or null @param past the self-attention cache
 * @returns x (B, T, C) and the self-attention's keys/values (B, H, P + T, D)
 */
export function decoderLayer(
  g: OnnxGraph,
  layer: TransformerDecoderLayer,
  x: string,
  memory: string,
  selfMask: string | null,
  memoryMask: string | null,
  style: LayerStyle,
  past: KV | null = null,
): { x: string; kv: KV } {
  let kv: KV = { key: '', value: '' };
  const sa = (y: string): string => {
    const r = attention(g, layer.selfAttn, y, null, selfMask, past);
    kv = r.kv;
    return r.out;
  };
  const ca = (y: string): string => attention(g, layer.multiheadAttn, y, memory, memoryMask).out;
  let h = residual(g, x, layer.norm1, style.normFirst, sa);
  h = residual(g, h, layer.norm2, style.normFirst, ca);
  const out = residual(g, h, layer.norm3, style.normFirst, (y) =>
    feedForward(g, layer, y, style.activation),
  );
  return { x: out, kv };
}

/**
 * An additive mask from a bool "allowed" tensor: 0 where allowed, MASKED elsewhere.
 * @param allowed bool, any shape
 */
export function additiveMask(g: OnnxGraph, allowed: string): string {
  return g.op('Where', [allowed, g.scalar(0), g.scalar(MASKED)]);
}
