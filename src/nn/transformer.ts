/**
 * The Transformer's layers and stacks (Vaswani et al. 2017, Sec. 3.1, Fig. 1), with
 * torch.nn.Transformer's parameter names and semantics (batch first):
 *
 *   post-LN (normFirst false, the paper): x = LayerNorm(x + Sublayer(x))
 *   pre-LN  (normFirst true):             x = x + Sublayer(LayerNorm(x))
 *
 * Shape letters: B batch, S source length, T target length, C d_model, F d_ff.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, full } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionState } from '../attention/core.js';
import type { AttentionSpec } from '../attention/registry.js';
import { MultiheadAttention, type MultiheadAttentionOptions } from './attention.js';
import { kvHeadsFor } from '../attention/heads.js';
import { Dropout, LayerNorm, Linear, activate, xavierUniform, type Activation } from './layers.js';
import { Module } from './module.js';
import { LayerStack, type DepthStrategy } from './stack.js';

/** Options shared by encoder and decoder layers (torch.nn.TransformerEncoderLayer's). */
export interface LayerOptions {
  /** d_ff, the inner width of the feed-forward network (Sec. 3.3). Default 2048. */
  dimFeedforward?: number;
  /** P_drop on sub-layer outputs, inside the FFN and on attention weights. Default 0.1. */
  dropout?: number;
  /** FFN activation. Default 'relu' (the paper). */
  activation?: Activation;
  /** LayerNorm epsilon. Default 1e-5. */
  layerNormEps?: number;
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

function resolve(o: LayerOptions): Required<LayerOptions> {
  return {
    attention: o.attention ?? 'full',
    position: o.position ?? 'none',
    heads: o.heads ?? 'standard',
    dimFeedforward: o.dimFeedforward ?? 2048,
    dropout: o.dropout ?? 0.1,
    activation: o.activation ?? 'relu',
    layerNormEps: o.layerNormEps ?? 1e-5,
    normFirst: o.normFirst ?? false,
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
    this.o = resolve(opts);
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
  /** One residual sub-layer with its norm, pre- or post-LN. */
  protected residual(
    x: Tensor,
    norm: LayerNorm,
    drop: Dropout,
    sub: (y: Tensor) => Tensor,
  ): Tensor {
    if (this.o.normFirst) return F.add(x, drop.forward(sub(norm.forward(x))));
    return norm.forward(F.add(x, drop.forward(sub(x))));
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
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  constructor(
    readonly dModel: number,
    readonly nhead: number,
    opts: LayerOptions = {},
  ) {
    super(dModel, opts);
    this.selfAttn = this.child('self_attn', this.selfAttention(dModel, nhead));
    const { generator: gen, dropout, layerNormEps: eps } = this.o;
    this.norm1 = this.child('norm1', new LayerNorm(dModel, eps));
    this.norm2 = this.child('norm2', new LayerNorm(dModel, eps));
    this.dropout1 = this.child('dropout1', new Dropout(dropout, gen));
    this.dropout2 = this.child('dropout2', new Dropout(dropout, gen));
  }

  /**
   * @param src (B, S, C) @returns (B, S, C)
   * @param cache self-attention decoding state (decoder-only models), from selfAttn.newState().
   */
  forward(src: Tensor, masks: EncoderLayerMasks = {}, cache?: AttentionState): Tensor {
    const sa = (y: Tensor): Tensor =>
      this.selfAttn.forward(
        y,
        y,
        y,
        {
          attnMask: masks.srcMask,
          keyPaddingMask: masks.srcKeyPaddingMask,
          isCausal: masks.isCausal,
        },
        cache,
      ).out;
    const x = this.residual(src, this.norm1, this.dropout1, sa);
    return this.residual(x, this.norm2, this.dropout2, (y) => this.ffBlock(y));
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
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
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
    const { generator: gen, dropout, layerNormEps: eps } = this.o;
    this.multiheadAttn = this.child(
      'multihead_attn',
      this.attention(dModel, nhead, { kind: 'cross' }),
    );
    this.norm1 = this.child('norm1', new LayerNorm(dModel, eps));
    this.norm2 = this.child('norm2', new LayerNorm(dModel, eps));
    this.norm3 = this.child('norm3', new LayerNorm(dModel, eps));
    this.dropout1 = this.child('dropout1', new Dropout(dropout, gen));
    this.dropout2 = this.child('dropout2', new Dropout(dropout, gen));
    this.dropout3 = this.child('dropout3', new Dropout(dropout, gen));
  }

  /**
   * @param tgt (B, T, C); memory (B, S, C) @returns (B, T, C)
   * @param cache KV caches for incremental decoding (tgt holds only the new positions).
   */
  forward(
    tgt: Tensor,
    memory: Tensor,
    masks: DecoderLayerMasks = {},
    cache?: DecoderLayerCache,
  ): Tensor {
    const sa = (y: Tensor): Tensor =>
      this.selfAttn.forward(
        y,
        y,
        y,
        {
          attnMask: masks.tgtMask,
          keyPaddingMask: masks.tgtKeyPaddingMask,
          isCausal: masks.tgtIsCausal,
        },
        cache?.self,
      ).out;
    const ca = (y: Tensor): Tensor =>
      this.multiheadAttn.forward(
        y,
        memory,
        memory,
        { attnMask: masks.memoryMask, keyPaddingMask: masks.memoryKeyPaddingMask },
        cache?.cross,
      ).out;
    let x = this.residual(tgt, this.norm1, this.dropout1, sa);
    x = this.residual(x, this.norm2, this.dropout2, ca);
    return this.residual(x, this.norm3, this.dropout3, (y) => this.ffBlock(y));
  }
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

/** A stack of N encoder layers with an optional final LayerNorm (torch.nn.TransformerEncoder). */
export class TransformerEncoder extends LayerStack<TransformerEncoderLayer> {
  constructor(
    layers: TransformerEncoderLayer[],
    norm: LayerNorm | null = null,
    depth?: DepthStrategy,
  ) {
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
    return this.runStack(src, (l, x, i) => l.forward(x, masks, caches?.[i]), offset);
  }
  /** Fresh empty decoding states, one per layer application. */
  newCaches(): AttentionState[] {
    return this.statesFor((l) => l.selfAttn.newState());
  }
}

/** A stack of N decoder layers with an optional final LayerNorm (torch.nn.TransformerDecoder). */
export class TransformerDecoder extends LayerStack<TransformerDecoderLayer> {
  constructor(
    layers: TransformerDecoderLayer[],
    norm: LayerNorm | null = null,
    depth?: DepthStrategy,
  ) {
    super(layers, norm, depth);
  }
  /**
   * @param tgt (B, T, C); memory (B, S, C) @returns (B, T, C)
   * @param offset position of tgt's first row (incremental decoding).
   */
  forward(
    tgt: Tensor,
    memory: Tensor,
    masks: DecoderLayerMasks = {},
    caches?: DecoderLayerCache[],
    offset = 0,
  ): Tensor {
    return this.runStack(tgt, (l, x, i) => l.forward(x, memory, masks, caches?.[i]), offset);
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
  constructor(config: TransformerConfig = {}) {
    super();
    const dModel = (this.dModel = config.dModel ?? 512);
    const nhead = (this.nhead = config.nhead ?? 8);
    const o = resolve(config);
    const enc = makeEncoderLayers(config.numEncoderLayers ?? 6, dModel, nhead, o);
    const dec = makeDecoderLayers(config.numDecoderLayers ?? 6, dModel, nhead, o);
    this.encoder = this.child(
      'encoder',
      new TransformerEncoder(enc, new LayerNorm(dModel, o.layerNormEps)),
    );
    this.decoder = this.child(
      'decoder',
      new TransformerDecoder(dec, new LayerNorm(dModel, o.layerNormEps)),
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
    const memory = this.encoder.forward(src, {
      srcMask: masks.srcMask,
      srcKeyPaddingMask: masks.srcKeyPaddingMask,
    });
    return this.decoder.forward(tgt, memory, masks);
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
