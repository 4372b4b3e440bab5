/**
 * Decoder-only language model (GPT-style; Radford et al. 2018): token embedding plus
 * position embedding, a stack of causal self-attention layers, a final LayerNorm and an
 * LM head tied to the token embedding. Parameter names: `wte.weight`, `wpe.weight`,
 * `blocks.layers.{i}.*` (torch.nn.TransformerEncoderLayer names), `ln_f.*`.
 *
 * Shape letters: B batch, T length (<= blockSize), C d_model, V vocabulary.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionState } from '../attention/core.js';
import { Embedding } from '../nn/layers.js';
import { makeNorm, type Norm } from '../nn/norms.js';
import { Module } from '../nn/module.js';
import { makePositionalEncoding, type PositionalEncoding } from '../nn/positional.js';
import { TransformerEncoder, makeEncoderLayers } from '../nn/transformer.js';
import { createDepth } from '../nn/depth-registry.js';
import { GPT_BLOCK, resolveModelConfig, type BlockConfig } from './config.js';

/**
 * Block defaults are GPT-2's: d_ff 4 d_model, dropout 0.1, gelu, pre-LN, eps 1e-5; the
 * attention core must run causally.
 */
export interface DecoderLMConfig extends BlockConfig {
  vocabSize: number;
  /** Maximum context length T. */
  blockSize: number;
  numLayers: number;
  /**
   * Positions: absolute 'learned' (GPT's wpe) or 'sinusoidal' (Sec. 3.5), or a relative
   * scheme inside self-attention: 'rope', 'alibi', 't5[:buckets=32,max-distance=128]',
   * 'shaw[:clip=16]' (src/attention/positions.ts; no absolute encoding then).
   */
  position?: string;
  /** Std of the N(0, std) embedding initialization; default 0.02 (GPT-2). */
  initStd?: number;
}

export class DecoderLM extends Module {
  readonly config: Required<DecoderLMConfig>;
  readonly wte: Embedding;
  readonly wpe: PositionalEncoding;
  readonly blocks: TransformerEncoder;
  readonly lnF: Norm;

  /** @throws ConfigError naming a field that is unknown, of the wrong type or out of range. */
  constructor(config: DecoderLMConfig, generator: Generator = defaultGenerator) {
    super();
    const c = resolveModelConfig('lm', config, GPT_BLOCK, { position: 'learned', initStd: 0.02 });
    this.config = c;
    const gen = generator;
    this.wte = this.child(
      'wte',
      new Embedding(c.vocabSize, c.dModel, { generator: gen, std: c.initStd }),
    );
    this.wpe = this.child(
      'wpe',
      makePositionalEncoding(c.position, c.blockSize, c.dModel, { generator: gen, std: c.initStd }),
    );
    const layers = makeEncoderLayers(c.numLayers, c.dModel, c.nhead, {
      ...c,
      generator: gen,
      maxLen: c.blockSize,
    });
    const depth = createDepth(c.depth, c.dModel, gen, { layers: c.numLayers, sublayers: 2 });
    this.blocks = this.child('blocks', new TransformerEncoder(layers, null, depth));
    this.lnF = this.child('ln_f', makeNorm(c.norm, c.dModel, c.layerNormEps));
  }

  /**
   * @param idx (B, T) int32 token ids
   * @param caches per-layer KV caches for incremental decoding; `offset` is then the
   *   number of positions already cached.
   * @returns logits (B, T, V)
   * @throws Error if idx is not (B, T) int32 or T + offset exceeds blockSize.
   */
  forward(idx: Tensor, caches?: AttentionState[], offset = 0): Tensor {
    if (idx.ndim !== 2 || idx.dtype !== 'int32') {
      throw new Error(
        `DecoderLM: idx must be (B, T) int32, got ${idx.dtype} ${fmtShape(idx.shape)}`,
      );
    }
    const x0 = this.wpe.forward(this.wte.forward(idx), offset); // (B, T, C)
    const x = this.blocks.forward(x0, { isCausal: true }, caches, offset); // (B, T, C)
    return F.linear(this.lnF.forward(x), this.wte.weight); // (B, T, V), head tied to wte
  }

  /** Fresh empty decoding states (KV caches for full attention), one per layer. */
  newCaches(): AttentionState[] {
    return this.blocks.newCaches();
  }
}
