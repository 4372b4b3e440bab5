/**
 * The Transformer's encoder and decoder layers (Vaswani et al. 2017, Sec. 3.1, Fig. 1), with
 * torch.nn.TransformerEncoderLayer's and TransformerDecoderLayer's parameter names and
 * semantics (batch first):
 *
 *   post-LN (normFirst false, the paper): x = LayerNorm(x + Sublayer(x))
 *   pre-LN  (normFirst true):             x = x + Sublayer(LayerNorm(x))
 *
 * Shape letters: B batch, S source length, T target length, C d_model, F d_ff.
 */
import { defaultGenerator, type Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionState } from '../attention/core.js';
import type { AttentionSpec } from '../attention/registry.js';
import {
  MultiheadAttention,
  type AttentionForwardOptions,
  type MultiheadAttentionOptions,
} from './attention.js';
import { kvHeadsFor } from '../attention/heads.js';
import { Dropout, Linear, activate, type Activation } from './layers.js';
import { Module } from './module.js';
import { makeNorm, type Norm, type NormKind } from './norms.js';
import type { SublayerGate } from './stack.js';

/** Options shared by encoder and decoder layers (torch.nn.TransformerEncoderLayer's). */
export interface LayerOptions {
  /** d_ff, the inner width of the feed-forward network (Sec. 3.3). Default 2048. */
  dimFeedforward?: number;
  /** P_drop on sub-layer outputs, inside the FFN and on attention weights. Default 0.1. */
  dropout?: number;
  /** FFN activation. Default 'relu' (the paper). */
  activation?: Activation;
  /** LayerNorm epsilon (every norm kind's). Default 1e-5. */
  layerNormEps?: number;
  /** The norm: 'layer' (default), 'rms' or 'batch' (src/nn/norms.ts). */
  norm?: NormKind;
  /** Pre-LN when true; post-LN (the paper) when false (default). */
  normFirst?: boolean;
  /**
   * The self-attention core, by registry name and parameters (`'full'`, the default;
   * `'local:window=64'`; see src/attention/registry.ts). Cross-attention is always full.
   */
  attention?: string | AttentionSpec;
  /**
   * A relative position scheme for self-attention (`'rope'`, `'alibi'`, `'t5'`, `'shaw'`);
   * absolute ones (`'sinusoidal'`, `'learned'`, the default 'none') act on the embeddings.
   */
  position?: string;
  /** Key/value heads of every attention: 'standard' (default), 'multi-query', 'grouped-query:groups=G'. */
  heads?: string;
  /** Generator for initialization and dropout. */
  generator?: Generator;
  /** The model's context, handed to the self-attention core (Linformer's n); 0 = unknown. */
  maxLen?: number;
}

/** Layer options with every default filled in. */
export function resolveLayerOptions(o: LayerOptions): Required<LayerOptions> {
  return {
    attention: o.attention ?? 'full',
    position: o.position ?? 'none',
    heads: o.heads ?? 'standard',
    dimFeedforward: o.dimFeedforward ?? 2048,
    dropout: o.dropout ?? 0.1,
    activation: o.activation ?? 'relu',
    layerNormEps: o.layerNormEps ?? 1e-5,
    normFirst: o.normFirst ?? false,
    norm: o.norm ?? 'layer',
    generator: o.generator ?? defaultGenerator,
    maxLen: o.maxLen ?? 0,
  };
}

/** Position-wise feed-forward network, Sec. 3.3: FFN(x) = act(x W1 + b1) W2 + b2 (linear1, linear2). */
abstract class FeedForwardLayer extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly dropout: Dropout;
  protected readonly o: Required<LayerOptions>;
  constructor(dModel: number, opts: LayerOptions) {
    super();
    this.o = resolveLayerOptions(opts);
    const gen = this.o.generator;
    this.linear1 = this.child(
      'linear1',
      new Linear(dModel, this.o.dimFeedforward, { generator: gen }),
    );
    this.dropout = this.child('dropout', new Dropout(this.o.dropout, gen));
    this.linear2 = this.child(
      'linear2',
      new Linear(this.o.dimFeedforward, dModel, { generator: gen }),
    );
  }
  /** The layer's self-attention: its core and relative positions from the options. */
  protected selfAttention(dModel: number, nhead: number): MultiheadAttention {
    const { attention, position } = this.o;
    const pos = position === 'none' ? undefined : position;
    return this.attention(dModel, nhead, { kind: 'self', attention, position: pos });
  }
  /** An attention of this layer: dropout, generator and key/value heads from the options. */
  protected attention(
    dModel: number,
    nhead: number,
    o: Pick<MultiheadAttentionOptions, 'kind' | 'attention' | 'position'>,
  ): MultiheadAttention {
    const { generator, dropout, heads, maxLen } = this.o;
    return new MultiheadAttention(dModel, nhead, {
      dropout,
      generator,
      maxLen: maxLen || undefined,
      kvHeads: kvHeadsFor(heads, nhead),
      ...o,
    });
  }
  /** linear2(dropout(act(linear1(x)))) */
  protected ffBlock(x: Tensor): Tensor {
    return this.linear2.forward(
      this.dropout.forward(activate(this.linear1.forward(x), this.o.activation)),
    );
  }
  /** A norm of this layer: kind and epsilon from the options. */
  protected makeNorm(dModel: number): Norm {
    return makeNorm(this.o.norm, dModel, this.o.layerNormEps);
  }

  /**
   * The norms (over C = dModel features) and dropouts of n residual sub-layers, registered as norm1..normN then
   * dropout1..dropoutN (torch's names and order).
   */
  protected sublayerParts(n: number, C: number): [Norm[], Dropout[]] {
    const { generator: gen, dropout } = this.o;
    const norms = Array.from({ length: n }, (_, i) => this.child(`norm${i + 1}`, this.makeNorm(C)));
    const drops = Array.from({ length: n }, (_, i) =>
      this.child(`dropout${i + 1}`, new Dropout(dropout, gen)),
    );
    return [norms, drops];
  }
  /**
   * One residual sub-layer with its norm, pre- or post-LN, and its gate when given
   * (conditional computation: closed = x unchanged and the sub-layer not run; a weight g =
   * x + g (block(x) - x), for pre-LN x + g Sublayer(LN(x))).
   * @param padding (B, L) key padding mask, left out of BatchNorm's statistics.
   * @param gate the layer application's gates; `k` this sub-layer's number in the layer.
   */
  protected residual(
    x: Tensor,
    norm: Norm,
    drop: Dropout,
    sub: (y: Tensor) => Tensor,
    padding: Tensor | null | undefined,
    gate?: SublayerGate,
    k = 0,
  ): Tensor {
    const g = gate ? gate(k, x) : 'open';
    if (g === 'closed') return x;
    const y = this.o.normFirst
      ? F.add(x, drop.forward(sub(norm.forward(x, padding))))
      : norm.forward(F.add(x, drop.forward(sub(x))), padding);
    return g === 'open' ? y : F.add(x, F.mul(F.sub(y, x), g)); // (B, L, C)
  }
}

export interface EncoderLayerMasks {
  /** (S, S) or (B*H, S, S) attention mask. */
  srcMask?: Tensor | null;
  /** (B, S) true = padding. */
  srcKeyPaddingMask?: Tensor | null;
  /** Apply a causal mask (decoder-only language models). */
  isCausal?: boolean;
}

/** Encoder layer (Sec. 3.1): self-attention then FFN, each with residual and LayerNorm. */
export class TransformerEncoderLayer extends FeedForwardLayer {
  readonly selfAttn: MultiheadAttention;
  readonly norm1: Norm;
  readonly norm2: Norm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  constructor(
    readonly dModel: number,
    readonly nhead: number,
    opts: LayerOptions = {},
  ) {
    super(dModel, opts);
    this.selfAttn = this.child('self_attn', this.selfAttention(dModel, nhead));
    [[this.norm1, this.norm2], [this.dropout1, this.dropout2]] = this.sublayerParts(2, dModel);
  }

  /**
   * @param src (B, S, C) @returns (B, S, C)
   * @param cache self-attention decoding state (decoder-only models), from selfAttn.newState().
   * @param gate gates of the sub-layers: 0 self-attention, 1 FFN (conditional computation).
   */
  forward(
    src: Tensor,
    masks: EncoderLayerMasks = {},
    cache?: AttentionState,
    gate?: SublayerGate,
  ): Tensor {
    const sa = selfAttentionBlock(
      this.selfAttn,
      {
        attnMask: masks.srcMask,
        keyPaddingMask: masks.srcKeyPaddingMask,
        isCausal: masks.isCausal,
      },
      cache,
    );
    const pad = masks.srcKeyPaddingMask;
    const x = this.residual(src, this.norm1, this.dropout1, sa, pad, gate, 0);
    return this.residual(x, this.norm2, this.dropout2, (y) => this.ffBlock(y), pad, gate, 1);
  }
}

export interface DecoderLayerMasks {
  /** (T, T) or (B*H, T, T), usually the causal mask. */
  tgtMask?: Tensor | null;
  /** (T, S) or (B*H, T, S). */
  memoryMask?: Tensor | null;
  /** (B, T) true = padding. */
  tgtKeyPaddingMask?: Tensor | null;
  /** (B, S) true = padding. */
  memoryKeyPaddingMask?: Tensor | null;
  /** Apply a causal mask to self-attention, in addition to tgtMask. */
  tgtIsCausal?: boolean;
}

/** Per-layer decoding states: self-attention's and cross-attention's. */
export interface DecoderLayerCache {
  self: AttentionState;
  cross: AttentionState;
}

/**
 * Decoder layer (Sec. 3.1): masked self-attention, cross-attention over the encoder's
 * memory ("encoder-decoder attention", Sec. 3.2.3), FFN; each with residual and LayerNorm.
 */
export class TransformerDecoderLayer extends FeedForwardLayer {
  readonly selfAttn: MultiheadAttention;
  readonly multiheadAttn: MultiheadAttention;
  readonly norm1: Norm;
  readonly norm2: Norm;
  readonly norm3: Norm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly dropout3: Dropout;
  constructor(
    readonly dModel: number,
    readonly nhead: number,
    opts: LayerOptions = {},
  ) {
    super(dModel, opts);
    this.selfAttn = this.child('self_attn', this.selfAttention(dModel, nhead));
    this.multiheadAttn = this.child(
      'multihead_attn',
      this.attention(dModel, nhead, { kind: 'cross' }),
    );
    [[this.norm1, this.norm2, this.norm3], [this.dropout1, this.dropout2, this.dropout3]] =
      this.sublayerParts(3, dModel);
  }

  /**
   * @param tgt (B, T, C); memory (B, S, C) @returns (B, T, C)
   * @param cache KV caches for incremental decoding (tgt holds only the new positions).
   * @param gate gates of the sub-layers: 0 self-attention, 1 cross-attention, 2 FFN.
   */
  forward(
    tgt: Tensor,
    memory: Tensor,
    masks: DecoderLayerMasks = {},
    cache?: DecoderLayerCache,
    gate?: SublayerGate,
  ): Tensor {
    const sa = selfAttentionBlock(
      this.selfAttn,
      {
        attnMask: masks.tgtMask,
        keyPaddingMask: masks.tgtKeyPaddingMask,
        isCausal: masks.tgtIsCausal,
      },
      cache?.self,
    );
    const ca = (y: Tensor): Tensor =>
      this.multiheadAttn.forward(
        y,
        memory,
        memory,
        { attnMask: masks.memoryMask, keyPaddingMask: masks.memoryKeyPaddingMask },
        cache?.cross,
      ).out;
    const pad = masks.tgtKeyPaddingMask;
    let x = this.residual(tgt, this.norm1, this.dropout1, sa, pad, gate, 0);
    x = this.residual(x, this.norm2, this.dropout2, ca, pad, gate, 1);
    return this.residual(x, this.norm3, this.dropout3, (y) => this.ffBlock(y), pad, gate, 2);
  }
}

/** The self-attention sub-layer y -> SelfAttn(y, y, y) under `masks`, with its decoding state. */
function selfAttentionBlock(
  attn: MultiheadAttention,
  masks: AttentionForwardOptions,
  cache?: AttentionState,
): (y: Tensor) => Tensor {
  return (y) => attn.forward(y, y, y, masks, cache).out;
}

/** `n` independently initialized encoder layers (torch's `_get_clones` copies one; ours differ). */
export function makeEncoderLayers(
  n: number,
  dModel: number,
  nhead: number,
  opts: LayerOptions,
): TransformerEncoderLayer[] {
  return Array.from({ length: n }, () => new TransformerEncoderLayer(dModel, nhead, opts));
}

/** `n` independently initialized decoder layers. */
export function makeDecoderLayers(
  n: number,
  dModel: number,
  nhead: number,
  opts: LayerOptions,
): TransformerDecoderLayer[] {
  return Array.from({ length: n }, () => new TransformerDecoderLayer(dModel, nhead, opts));
}
