/**
 * Encoder-decoder model for sequence-to-sequence tasks such as translation (Vaswani et
 * al. 2017, Fig. 1): source and target token embeddings scaled by sqrt(d_model) (Sec. 3.4),
 * sinusoidal positional encoding (Sec. 3.5; or a relative scheme in self-attention), the `Transformer`, and a generator (linear
 * projection to target-vocabulary logits, Sec. 3.4), optionally tied to the target
 * embedding. Parameter names: `src_tok_emb.weight`, `tgt_tok_emb.weight`, `transformer.*`
 * (torch.nn.Transformer's), `generator.weight`, `generator.bias`.
 *
 * Shape letters: B batch, S source length, T target length, C d_model, V vocabulary.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';
import { Dropout, Embedding, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { makePositionalEncoding, type PositionalEncoding } from '../nn/positional.js';
import { Transformer, type CrossAttention, type DecoderLayerCache } from '../nn/transformer.js';
import { PAPER_BLOCK, resolveModelConfig, type BlockConfig } from './config.js';
import { paddingMask } from './padding.js';
import { twoPassDecoderInput } from '../rnn/two-pass-sampling.js';

export { paddingMask };

/**
 * Block defaults are the paper's: relu, post-LN, dropout 0.1 (Sec. 5.4), eps 1e-5, full
 * attention; dimFeedforward is required.
 */
export interface Seq2SeqConfig extends BlockConfig {
  srcVocabSize: number;
  tgtVocabSize: number;
  numEncoderLayers: number;
  numDecoderLayers: number;
  dimFeedforward: number;
  /** Maximum sequence length for the positional table. Default 512. */
  maxLen?: number;
  /** Share the generator's weight with the target embedding (Sec. 3.4). Default true. */
  tieWeights?: boolean;
  /** Token id of padding (masked as keys). Default 0. */
  padId?: number;
  /**
   * What each decoder layer's cross-attention reads (survey Sec. 6.2): 'final' (default,
   * the paper: the encoder's final output) or 'layerwise' (decoder layer i reads encoder
   * layer i's output through the encoder's final norm; needs numEncoderLayers ===
   * numDecoderLayers and depth 'fixed').
   */
  crossAttention?: CrossAttention;
}

export class Seq2SeqTransformer extends Module {
  readonly config: Required<Seq2SeqConfig>;
  readonly srcTokEmb: Embedding;
  readonly tgtTokEmb: Embedding;
  readonly positional: PositionalEncoding;
  readonly embDropout: Dropout;
  readonly transformer: Transformer;
  readonly generator: Linear;
  private readonly gen: Generator;

  /** @throws ConfigError naming a field that is unknown, of the wrong type or out of range. */
  constructor(config: Seq2SeqConfig, gen: Generator = defaultGenerator) {
    super();
    const c = resolveModelConfig('seq2seq', config, PAPER_BLOCK, {
      maxLen: 512,
      tieWeights: true,
      padId: 0,
      position: 'sinusoidal',
      crossAttention: 'final',
    });
    this.config = c;
    this.gen = gen;
    const std = 1 / Math.sqrt(c.dModel); // embeddings are scaled back up by sqrt(d_model)
    this.srcTokEmb = this.child(
      'src_tok_emb',
      new Embedding(c.srcVocabSize, c.dModel, { generator: gen, scale: true, std }),
    );
    this.tgtTokEmb = this.child(
      'tgt_tok_emb',
      new Embedding(c.tgtVocabSize, c.dModel, { generator: gen, scale: true, std }),
    );
    this.positional = this.child(
      'positional_encoding',
      makePositionalEncoding(c.position, c.maxLen, c.dModel),
    );
    this.embDropout = this.child('dropout', new Dropout(c.dropout, gen));
    this.transformer = this.child(
      'transformer',
      new Transformer({
        dModel: c.dModel,
        nhead: c.nhead,
        numEncoderLayers: c.numEncoderLayers,
        numDecoderLayers: c.numDecoderLayers,
        dimFeedforward: c.dimFeedforward,
        dropout: c.dropout,
        activation: c.activation,
        normFirst: c.normFirst,
        layerNormEps: c.layerNormEps,
        norm: c.norm,
        attention: c.attention,
        position: c.position,
        heads: c.heads,
        depth: c.depth,
        crossAttention: c.crossAttention,
        generator: gen,
        maxLen: c.maxLen,
      }),
    );
    this.generator = this.child(
      'generator',
      new Linear(c.dModel, c.tgtVocabSize, { generator: gen }),
    );
    if (c.tieWeights) {
      // Tie: the generator uses the target embedding's matrix (Press & Wolf 2017; Sec. 3.4).
      this.generator.tieWeight(this.tgtTokEmb.weight);
    }
  }

  private embed(emb: Embedding, ids: Tensor, offset = 0): Tensor {
    return this.embDropout.forward(this.positional.forward(emb.forward(ids), offset)); // (B, L, C)
  }

  /**
   * Encode source ids.
   * @param src (B, S) int32 @returns memory (B, S, C) (with 'layerwise' cross-attention
   *   (B, S, N * C), every encoder layer's output side by side) and the source padding mask (B, S)
   */
  encode(src: Tensor): { memory: Tensor; srcPadMask: Tensor } {
    if (src.ndim !== 2 || src.dtype !== 'int32')
      throw new Error(`encode: src must be (B, S) int32, got ${src.dtype} ${fmtShape(src.shape)}`);
    const srcPadMask = paddingMask(src, this.config.padId);
    const memory = this.transformer.encode(this.embed(this.srcTokEmb, src), {
      srcKeyPaddingMask: srcPadMask,
    });
    return { memory, srcPadMask };
  }

  /**
   * Decode target ids given the memory; causal self-attention.
   * @param tgt (B, T) int32 (the new positions only when `caches` are given)
   * @param offset position of tgt's first token (incremental decoding)
   * @returns hidden states (B, T, C)
   */
  decode(
    tgt: Tensor,
    memory: Tensor,
    srcPadMask: Tensor | null,
    caches?: DecoderLayerCache[],
    offset = 0,
  ): Tensor {
    const tgtPad = caches ? null : paddingMask(tgt, this.config.padId);
    return this.transformer.decoder.forward(
      this.embed(this.tgtTokEmb, tgt, offset),
      memory,
      { tgtIsCausal: true, tgtKeyPaddingMask: tgtPad, memoryKeyPaddingMask: srcPadMask },
      caches,
      offset,
    );
  }

  /** Logits over the target vocabulary: (B, T, C) -> (B, T, V). */
  project(hidden: Tensor): Tensor {
    return this.generator.forward(hidden);
  }

  /**
   * Teacher-forced forward: logits for every target position.
   * @param src (B, S) int32; tgt (B, T) int32 (the decoder input, starting with <bos>)
   * @param o.samplingProb scheduled sampling's 1 - eps (Mihaylova & Martins 2019, two-pass
   *   decoding, src/rnn/two-pass-sampling.ts), in training only; 0 = teacher forcing.
   * @returns logits (B, T, V)
   * @throws Error if samplingProb is outside [0, 1].
   */
  forward(
    src: Tensor,
    tgt: Tensor,
    o: { samplingProb?: number; generator?: Generator } = {},
  ): Tensor {
    const { memory, srcPadMask } = this.encode(src);
    const p = o.samplingProb ?? 0;
    if (!(p >= 0 && p <= 1)) throw new Error(`forward: samplingProb must be in [0, 1], got ${p}`);
    const input = this.training
      ? twoPassDecoderInput(this, memory, srcPadMask, tgt, p, o.generator ?? this.gen)
      : tgt;
    return this.project(this.decode(input, memory, srcPadMask));
  }

  /** Fresh decoder caches for incremental decoding. */
  newCaches(): DecoderLayerCache[] {
    return this.transformer.decoder.newCaches();
  }
}
