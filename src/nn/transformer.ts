/**
 * The Transformer's stacks and the encoder-decoder model (Vaswani et al. 2017, Sec. 3.1,
 * Fig. 1), with torch.nn.Transformer's parameter names and semantics (batch first); the
 * layers are in transformer-layers.ts (re-exported here). The stacks run their layers
 * through a depth strategy (stack.ts) and the decoder's cross-attention reads the final
 * encoder output or, layer-wise, each encoder layer's (survey Sec. 6.2).
 *
 * Shape letters: B batch, S source length, T target length, C d_model, N layers.
 */
import { Tensor, fmtShape, full } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionState } from '../attention/core.js';
import { xavierUniform } from './layers.js';
import { makeNorm, type Norm } from './norms.js';
import { Module } from './module.js';
import { LayerStack, type ApplyLayer, type DepthStrategy } from './stack.js';
import { createDepth } from './depth-registry.js';
import {
  makeDecoderLayers,
  makeEncoderLayers,
  resolveLayerOptions,
  type DecoderLayerCache,
  type DecoderLayerMasks,
  type EncoderLayerMasks,
  type LayerOptions,
  type TransformerDecoderLayer,
  type TransformerEncoderLayer,
} from './transformer-layers.js';

export {
  TransformerDecoderLayer,
  TransformerEncoderLayer,
  makeDecoderLayers,
  makeEncoderLayers,
  resolveLayerOptions,
  type DecoderLayerCache,
  type DecoderLayerMasks,
  type EncoderLayerMasks,
  type LayerOptions,
} from './transformer-layers.js';

/** A stack of N encoder layers with an optional final norm (torch.nn.TransformerEncoder). */
export class TransformerEncoder extends LayerStack<TransformerEncoderLayer> {
  constructor(layers: TransformerEncoderLayer[], norm: Norm | null = null, depth?: DepthStrategy) {
    super(layers, norm, depth);
  }
  /**
   * @param src (B, S, C) @returns (B, S, C)
   * @param caches one self-attention decoding state per layer (decoder-only models).
   * @param offset position of src's first row (incremental decoding).
   */
  forward(
    src: Tensor,
    masks: EncoderLayerMasks = {},
    caches?: AttentionState[],
    offset = 0,
  ): Tensor {
    const apply: ApplyLayer<TransformerEncoderLayer> = (l, x, i, gate) =>
      l.forward(x, masks, caches?.[i], gate);
    const ctx = { offset, cached: caches !== undefined, padding: masks.srcKeyPaddingMask };
    return this.runStack(src, apply, ctx);
  }
  /** Fresh empty decoding states, one per layer application. */
  newCaches(): AttentionState[] {
    return this.statesFor((l) => l.selfAttn.newState());
  }
  /**
   * Every layer's output for layer-wise cross-attention (survey Sec. 6.2), each through the
   * stack's final norm when it has one (the same module: in a pre-LN stack the residual
   * stream is not normalized, and the decoder's last layer then attends exactly the memory
   * `forward` gives), side by side along the channels. A BatchNorm final norm in training
   * thus updates its running statistics once per layer.
   * @param src (B, S, C) @returns (B, S, N * C): layer i's output in channels [i C, (i + 1) C).
   */
  forwardLayerwise(src: Tensor, masks: EncoderLayerMasks = {}): Tensor {
    const outs: Tensor[] = [];
    const apply: ApplyLayer<TransformerEncoderLayer> = (l, x, i, gate) =>
      (outs[i] = l.forward(x, masks, undefined, gate));
    this.depth.run(this.layers.items, src, apply, {
      offset: 0,
      padding: masks.srcKeyPaddingMask,
    });
    return F.concat(
      outs.map((h) => (this.norm ? this.norm.forward(h, masks.srcKeyPaddingMask) : h)),
      2,
    ); // (B, S, N * C)
  }
}

/**
 * What the decoder's cross-attention reads (survey Sec. 6.2, cross-block connectivity):
 * 'final', the encoder's final output for every decoder layer (the paper, Fig. 1), or
 * 'layerwise', decoder layer i reads encoder layer i's output.
 */
export type CrossAttention = 'final' | 'layerwise';

/**
 * Check that a stack pair can connect layer-wise: as many encoder as decoder layers, the
 * fixed depth (an adaptive strategy's applications need not pair up).
 * @throws Error naming both layer counts, or the depth.
 */
export function checkCrossAttention(
  mode: CrossAttention,
  numEncoderLayers: number,
  numDecoderLayers: number,
  depth = 'fixed',
): void {
  if (mode !== 'layerwise') return;
  if (numEncoderLayers !== numDecoderLayers)
    throw new Error(
      `crossAttention 'layerwise' needs as many encoder as decoder layers: numEncoderLayers ${numEncoderLayers}, numDecoderLayers ${numDecoderLayers}`,
    );
  if (!depth.startsWith('fixed'))
    throw new Error(`crossAttention 'layerwise' needs depth 'fixed', got '${depth}'`);
}

/** A stack of N decoder layers with an optional final norm (torch.nn.TransformerDecoder). */
export class TransformerDecoder extends LayerStack<TransformerDecoderLayer> {
  constructor(
    layers: TransformerDecoderLayer[],
    norm: Norm | null = null,
    depth?: DepthStrategy,
    readonly crossAttention: CrossAttention = 'final',
  ) {
    super(layers, norm, depth);
  }
  /**
   * @param tgt (B, T, C) @returns (B, T, C)
   * @param memory (B, S, C) the encoder's output ('final'), or (B, S, N * C) its N layers'
   *   outputs side by side ('layerwise', TransformerEncoder.forwardLayerwise).
   * @param offset position of tgt's first row (incremental decoding).
   * @throws Error naming the shapes when a layer-wise memory is not N * C wide.
   */
  forward(
    tgt: Tensor,
    memory: Tensor,
    masks: DecoderLayerMasks = {},
    caches?: DecoderLayerCache[],
    offset = 0,
  ): Tensor {
    const n = this.layers.length;
    const C = tgt.shape[2];
    if (this.crossAttention === 'layerwise' && memory.shape[2] !== n * C)
      throw new Error(
        `TransformerDecoder: layer-wise memory ${fmtShape(memory.shape)} must be (B, S, ${n} * ${C}) for ${n} layers and tgt ${fmtShape(tgt.shape)}`,
      );
    const memoryOf = (i: number): Tensor =>
      this.crossAttention === 'layerwise' && n > 1
        ? F.slice(memory, 2, i * C, (i + 1) * C)
        : memory; // (B, S, C)
    const apply: ApplyLayer<TransformerDecoderLayer> = (l, x, i, gate) =>
      l.forward(x, memoryOf(i), masks, caches?.[i], gate);
    const ctx = { offset, cached: caches !== undefined, padding: masks.tgtKeyPaddingMask };
    return this.runStack(tgt, apply, ctx);
  }
  /** Fresh empty decoding states, one pair per layer application. */
  newCaches(): DecoderLayerCache[] {
    return this.statesFor((l) => ({
      self: l.selfAttn.newState(),
      cross: l.multiheadAttn.newState(),
    }));
  }
}

/** Configuration of `Transformer`, mirroring torch.nn.Transformer's arguments. */
export interface TransformerConfig extends LayerOptions {
  /** d_model. Default 512. */
  dModel?: number;
  /** Number of heads h. Default 8. */
  nhead?: number;
  /** Encoder layers N. Default 6. */
  numEncoderLayers?: number;
  /** Decoder layers N. Default 6. */
  numDecoderLayers?: number;
  /**
   * How each stack runs its layers, a depth spec: 'fixed' (default) or
   * 'universal:max-steps=8,act=true,tau=0.01' (src/nn/depth-registry.ts); the encoder and
   * the decoder each get their own strategy.
   */
  depth?: string;
  /**
   * What each decoder layer's cross-attention reads: 'final' (default, the paper) or
   * 'layerwise' (encoder layer i's output, through the encoder's final norm; needs as many
   * encoder as decoder layers and the fixed depth).
   */
  crossAttention?: CrossAttention;
}

export interface TransformerMasks {
  srcMask?: Tensor | null;
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
}

/**
 * The encoder-decoder Transformer (Fig. 1), torch.nn.Transformer with batch_first=True:
 * parameter names `encoder.layers.{i}...`, `encoder.norm`, `decoder.layers.{i}...`,
 * `decoder.norm`. Weights with more than one dimension are Xavier-uniform initialized.
 */
export class Transformer extends Module {
  readonly encoder: TransformerEncoder;
  readonly decoder: TransformerDecoder;
  readonly dModel: number;
  readonly nhead: number;
  readonly crossAttention: CrossAttention;
  constructor(config: TransformerConfig = {}) {
    super();
    const dModel = (this.dModel = config.dModel ?? 512);
    const nhead = (this.nhead = config.nhead ?? 8);
    const o = resolveLayerOptions(config);
    const enc = makeEncoderLayers(config.numEncoderLayers ?? 6, dModel, nhead, o);
    const dec = makeDecoderLayers(config.numDecoderLayers ?? 6, dModel, nhead, o);
    const depth = config.depth ?? 'fixed';
    const cross = (this.crossAttention = config.crossAttention ?? 'final');
    checkCrossAttention(cross, enc.length, dec.length, depth);
    this.encoder = this.child(
      'encoder',
      new TransformerEncoder(
        enc,
        makeNorm(o.norm, dModel, o.layerNormEps),
        createDepth(depth, dModel, o.generator, { layers: enc.length, sublayers: 2 }),
      ),
    );
    this.decoder = this.child(
      'decoder',
      new TransformerDecoder(
        dec,
        makeNorm(o.norm, dModel, o.layerNormEps),
        createDepth(depth, dModel, o.generator, { layers: dec.length, sublayers: 3 }),
        cross,
      ),
    );
    for (const p of this.parameters()) if (p.ndim > 1) xavierUniform(p, o.generator);
  }

  /**
   * @param src (B, S, C) float32; tgt (B, T, C) float32 (embedded sequences)
   * @returns (B, T, C)
   * @throws Error naming the shapes when src and tgt disagree in batch or width.
   */
  forward(src: Tensor, tgt: Tensor, masks: TransformerMasks = {}): Tensor {
    if (
      src.ndim !== 3 ||
      tgt.ndim !== 3 ||
      src.shape[0] !== tgt.shape[0] ||
      src.shape[2] !== this.dModel ||
      tgt.shape[2] !== this.dModel
    ) {
      throw new Error(
        `Transformer: src ${fmtShape(src.shape)} and tgt ${fmtShape(tgt.shape)} must be (B, S, ${this.dModel}) and (B, T, ${this.dModel})`,
      );
    }
    const memory = this.encode(src, {
      srcMask: masks.srcMask,
      srcKeyPaddingMask: masks.srcKeyPaddingMask,
    });
    return this.decoder.forward(tgt, memory, masks);
  }

  /**
   * The decoder's memory: the encoder's final output (B, S, C), or with 'layerwise' cross-
   * attention every layer's output side by side (B, S, N * C).
   * @param src (B, S, C) embedded source
   */
  encode(src: Tensor, masks: EncoderLayerMasks = {}): Tensor {
    return this.crossAttention === 'layerwise'
      ? this.encoder.forwardLayerwise(src, masks)
      : this.encoder.forward(src, masks);
  }

  /**
   * The causal mask (Sec. 3.2.3): a (T, T) float mask with -Infinity above the diagonal and
   * 0 elsewhere, as torch.nn.Transformer.generate_square_subsequent_mask.
   */
  static generateSquareSubsequentMask(T: number): Tensor {
    const m = full([T, T], 0);
    const d = m.f32;
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) d[i * T + j] = -Infinity;
    return m;
  }
}
