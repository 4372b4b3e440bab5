/**
 * Encoder-only classifier (BERT-style; Devlin et al. 2019): token embedding, positional
 * encoding, a Transformer encoder, pooling ('cls': the first position, which the data
 * pipeline fills with <bos> as a [CLS] token; 'mean': the mean over non-padding positions),
 * then a linear classifier head. Parameter names: `tok_emb.weight`, `pos_emb.weight`
 * (learned positions only), `encoder.layers.{i}.*`, `encoder.norm.*` (pre-LN only),
 * `classifier.weight`, `classifier.bias`; with early exit (DeeBERT, Xin et al. 2020; PABEE,
 * Zhou et al. 2020) also `exits.{i}.weight`, `exits.{i}.bias`, the exit classifier after
 * layer i for i < N - 1 (the last layer's exit is `classifier`; early-exit.ts runs them).
 *
 * Shape letters: B batch, S length, C d_model, K classes.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';
import * as F from '../ops/index.js';
import { Dropout, Embedding, Linear } from '../nn/layers.js';
import { makeNorm } from '../nn/norms.js';
import { Module, ModuleList } from '../nn/module.js';
import { makePositionalEncoding, type PositionalEncoding } from '../nn/positional.js';
import { TransformerEncoder, makeEncoderLayers } from '../nn/transformer.js';
import { createDepth } from '../nn/depth-registry.js';
import { GPT_BLOCK, resolveModelConfig, type BlockConfig } from './config.js';
import { paddingMask } from './padding.js';
import { classifyEarlyExit, type EarlyExitOptions, type EarlyExitResult } from './early-exit.js';

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
  /**
   * An exit classifier (pooling + Linear) after every encoder layer, trained jointly
   * (trainingLoss: the mean of the exits' cross-entropies), for early-exit inference
   * (classifyEarlyExit). Needs depth 'fixed'. Default false.
   */
  earlyExit?: boolean;
}

export class EncoderClassifier extends Module {
  readonly config: Required<EncoderClassifierConfig>;
  readonly tokEmb: Embedding;
  readonly posEmb: PositionalEncoding;
  readonly dropout: Dropout;
  readonly encoder: TransformerEncoder;
  readonly classifier: Linear;
  /** Exit classifiers after layers 0 ... N - 2 (earlyExit only; empty otherwise). */
  readonly exits: ModuleList<Linear>;

  /** @throws ConfigError naming a field that is unknown, of the wrong type or out of range. */
  constructor(config: EncoderClassifierConfig, gen: Generator = defaultGenerator) {
    super();
    const c = resolveModelConfig('classifier', config, GPT_BLOCK, {
      maxLen: 512,
      pooling: 'mean',
      position: 'sinusoidal',
      padId: 0,
      earlyExit: false,
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
    const exits = c.earlyExit ? c.numLayers - 1 : 0;
    this.exits = this.child(
      'exits',
      new ModuleList(
        Array.from({ length: exits }, () => new Linear(c.dModel, c.numClasses, { generator: gen })),
      ),
    );
  }

  /**
   * The encoder's input: embeddings, positions, dropout; and the key padding mask.
   * @param ids (B, S) int32 @returns x (B, S, C), pad (B, S) bool (true = padding)
   * @throws Error naming the dtype and shape of ids when they are not (B, S) int32.
   */
  embed(ids: Tensor): { x: Tensor; pad: Tensor } {
    if (ids.ndim !== 2 || ids.dtype !== 'int32')
      throw new Error(
        `EncoderClassifier: ids must be (B, S) int32, got ${ids.dtype} ${fmtShape(ids.shape)}`,
      );
    const pad = paddingMask(ids, this.config.padId);
    return { x: this.dropout.forward(this.posEmb.forward(this.tokEmb.forward(ids))), pad };
  }

  /**
   * Pool a hidden state over positions: 'cls' the first row, 'mean' the mean over the
   * non-padding positions.
   * @param h (B, S, C) @param pad (B, S) bool @returns (B, C)
   */
  pool(h: Tensor, pad: Tensor): Tensor {
    const [B, S] = pad.shape;
    if (this.config.pooling === 'cls')
      return F.reshape(F.slice(h, 1, 0, 1), [B, this.config.dModel]);
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
    return F.mul(F.sum(F.mul(h, keep), 1), inv); // (B, C)
  }

  /**
   * Exit i's logits from encoder layer i's output: the stack's final norm (when it has one,
   * as forward applies it after the last layer), pooling, then exit i's Linear
   * (`classifier` for the last layer, so exit N - 1 is forward's head). The final norm is
   * shared by the exits: a BatchNorm one in training updates its running statistics once per
   * exit.
   * @param i layer index in [0, N) @param h (B, S, C) layer i's output @param pad (B, S)
   * @returns (B, K)
   * @throws Error when exit i does not exist (a model without exits has only exit N - 1).
   */
  exitLogits(i: number, h: Tensor, pad: Tensor): Tensor {
    const last = this.config.numLayers - 1;
    const head = i === last ? this.classifier : this.exits.items[i];
    if (!head)
      throw new Error(
        `EncoderClassifier: no exit classifier after layer ${i} (earlyExit ${this.config.earlyExit}, ${this.config.numLayers} layers)`,
      );
    const normed = this.encoder.norm ? this.encoder.norm.forward(h, pad) : h;
    return head.forward(this.pool(normed, pad));
  }

  /**
   * Every exit's logits, layer by layer (earlyExit models).
   * @param ids (B, S) int32 @returns N tensors (B, K), exit i after layer i.
   * @throws Error when the model has no exits.
   */
  forwardExits(ids: Tensor): Tensor[] {
    this.requireExits('forwardExits');
    const { x, pad } = this.embed(ids);
    const masks = { srcKeyPaddingMask: pad };
    const out: Tensor[] = [];
    let h = x;
    this.encoder.layers.items.forEach((layer, i) => {
      h = layer.forward(h, masks);
      out.push(this.exitLogits(i, h, pad));
    });
    return out;
  }

  /**
   * The training loss: cross-entropy of forward's logits; with early exit, the mean over
   * the N exits of their cross-entropies (DeeBERT and PABEE train the exits jointly; PABEE
   * weights exit i by i, we weight them equally).
   * @param ids (B, S) int32 @param y (B) int32 class ids @returns scalar
   */
  trainingLoss(ids: Tensor, y: Tensor): Tensor {
    if (!this.config.earlyExit) return F.crossEntropy(this.forward(ids), y);
    const losses = this.forwardExits(ids).map((logits) => F.crossEntropy(logits, y));
    return F.mul(
      losses.reduce((a, b) => F.add(a, b)),
      1 / losses.length,
    );
  }

  /**
   * Early-exit inference (early-exit.ts): each example leaves after the first layer whose
   * exit is confident enough (max softmax >= threshold) or whose prediction stayed the same
   * for `patience` layers.
   * @param ids (B, S) int32
   * @throws Error when the model was built without exits (earlyExit false), or for a bad option.
   */
  classifyEarlyExit(ids: Tensor, opts: EarlyExitOptions = {}): EarlyExitResult {
    this.requireExits('classifyEarlyExit');
    return classifyEarlyExit(this, ids, opts);
  }

  private requireExits(what: string): void {
    if (!this.config.earlyExit)
      throw new Error(
        `EncoderClassifier.${what}: the model has no exit classifiers (it was built with earlyExit false, so only its last layer can classify; train it with earlyExit true)`,
      );
  }

  /**
   * @param ids (B, S) int32, padded with padId
   * @returns logits (B, K)
   */
  forward(ids: Tensor): Tensor {
    const { x, pad } = this.embed(ids);
    const h = this.encoder.forward(x, { srcKeyPaddingMask: pad }); // (B, S, C)
    return this.classifier.forward(this.pool(h, pad)); // (B, K)
  }
}
