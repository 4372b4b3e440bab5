/**
 * Encoder-only classifier (BERT-style; Devlin et al. 2019): token embedding, positional
 * encoding, a Transformer encoder, pooling ('cls': the first position, which the data
 * pipeline fills with <bos> as a [CLS] token; 'mean': the mean over non-padding positions),
 * then a linear classifier head. Parameter names: `tok_emb.weight`, `pos_emb.weight`
 * (learned positions only), `encoder.layers.{i}.*`, `encoder.norm.*` (pre-LN only),
 * `classifier.weight`, `classifier.bias`.
 *
 * Shape letters: B batch, S length, C d_model, K classes.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';
import * as F from '../ops/index.js';
import { Dropout, Embedding, Linear } from '../nn/layers.js';
import { makeNorm } from '../nn/norms.js';
import { Module } from '../nn/module.js';
import { makePositionalEncoding, type PositionalEncoding } from '../nn/positional.js';
import { TransformerEncoder, makeEncoderLayers } from '../nn/transformer.js';
import { createDepth } from '../nn/depth-registry.js';
import { GPT_BLOCK, resolveModelConfig, type BlockConfig } from './config.js';
import { paddingMask } from './padding.js';

/** Block defaults are BERT-like: d_ff 4 d_model, dropout 0.1, gelu, pre-LN, eps 1e-5. */
export interface EncoderClassifierConfig extends BlockConfig {
  vocabSize: number;
  numClasses: number;
  numLayers: number;
  /** Maximum input length. Default 512. */
  maxLen?: number;
  /** 'cls' (first position) or 'mean' (masked mean). Default 'mean'. */
  pooling?: 'cls' | 'mean';
  padId?: number;
}

export class EncoderClassifier extends Module {
  readonly config: Required<EncoderClassifierConfig>;
  readonly tokEmb: Embedding;
  readonly posEmb: PositionalEncoding;
  readonly dropout: Dropout;
  readonly encoder: TransformerEncoder;
  readonly classifier: Linear;

  /** @throws ConfigError naming a field that is unknown, of the wrong type or out of range. */
  constructor(config: EncoderClassifierConfig, gen: Generator = defaultGenerator) {
    super();
    const c = resolveModelConfig('classifier', config, GPT_BLOCK, {
      maxLen: 512,
      pooling: 'mean',
      position: 'sinusoidal',
      padId: 0,
    });
    this.config = c;
    this.tokEmb = this.child(
      'tok_emb',
      new Embedding(c.vocabSize, c.dModel, {
        generator: gen,
        scale: true,
        std: 1 / Math.sqrt(c.dModel),
      }),
    );
    this.posEmb = this.child(
      'pos_emb',
      makePositionalEncoding(c.position, c.maxLen, c.dModel, { generator: gen, std: 0.02 }),
    );
    this.dropout = this.child('dropout', new Dropout(c.dropout, gen));
    const layers = makeEncoderLayers(c.numLayers, c.dModel, c.nhead, { ...c, generator: gen });
    this.encoder = this.child(
      'encoder',
      new TransformerEncoder(
        layers,
        c.normFirst ? makeNorm(c.norm, c.dModel, c.layerNormEps) : null,
        createDepth(c.depth, c.dModel, gen, { layers: c.numLayers, sublayers: 2 }),
      ),
    );
    this.classifier = this.child(
      'classifier',
      new Linear(c.dModel, c.numClasses, { generator: gen }),
    );
  }

  /**
   * @param ids (B, S) int32, padded with padId
   * @returns logits (B, K)
   */
  forward(ids: Tensor): Tensor {
    if (ids.ndim !== 2 || ids.dtype !== 'int32')
      throw new Error(
        `EncoderClassifier: ids must be (B, S) int32, got ${ids.dtype} ${fmtShape(ids.shape)}`,
      );
    const [B, S] = ids.shape;
    const pad = paddingMask(ids, this.config.padId);
    const x0 = this.dropout.forward(this.posEmb.forward(this.tokEmb.forward(ids))); // (B, S, C)
    const h = this.encoder.forward(x0, { srcKeyPaddingMask: pad }); // (B, S, C)
    let pooled: Tensor;
    if (this.config.pooling === 'cls') {
      pooled = F.reshape(F.slice(h, 1, 0, 1), [B, this.config.dModel]); // (B, C)
    } else {
      const keep = new Tensor(new Float32Array(B * S), [B, S, 1]);
      const counts = new Float32Array(B);
      for (let i = 0; i < B * S; i++) {
        keep.f32[i] = pad.data[i] ? 0 : 1;
        counts[Math.floor(i / S)] += keep.f32[i];
      }
      const inv = new Tensor(
        counts.map((n) => 1 / Math.max(n, 1)),
        [B, 1],
      );
      pooled = F.mul(F.sum(F.mul(h, keep), 1), inv); // (B, C)
    }
    return this.classifier.forward(pooled); // (B, K)
  }
}
