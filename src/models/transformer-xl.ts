/**
 * Transformer-XL language model (Dai et al. 2019; survey Lin et al. 2021, Sec. 6.4): a
 * decoder-only LM whose self-attention is the relative `xl` core (src/attention/xl.ts) with
 * a memory of the previous segment per layer. No absolute positions: the token embedding
 * goes straight into the stack; every layer adds (q + u).k + (q + v).W_R R_{i-j} (Sec. 3.3).
 * Text is read in consecutive segments; each layer's memory keeps the last M positions
 * (memory length M) without gradient, so segment tau attends segment tau-1 (and, through
 * the layers below, further back: the receptive field grows by M per layer, Sec. 3.2).
 * With M = 0 it is a plain relative-position LM.
 *
 * Parameter names: `wte.weight`, `blocks.layers.{i}.*` (torch.nn.TransformerEncoderLayer
 * names; the core's `self_attn.core.r_net.weight`, `self_attn.core.r_w_bias`,
 * `self_attn.core.r_r_bias`), `ln_f.*`; the LM head is tied to `wte`.
 *
 * Shape letters: B batch, T segment length, C d_model, V vocabulary, M memory length.
 */
import { noGrad } from '../autograd.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionState } from '../attention/core.js';
import { XLAttention } from '../attention/xl.js';
import { Embedding } from '../nn/layers.js';
import { makeNorm, type Norm } from '../nn/norms.js';
import { Module } from '../nn/module.js';
import { TransformerEncoder, makeEncoderLayers } from '../nn/transformer.js';
import { createDepth } from '../nn/depth-registry.js';
import { samplingSteps, type GenerateOptions } from '../decode/generate.js';
import { ConfigError, GPT_BLOCK, resolveModelConfig, type BlockConfig } from './config.js';

/** Block defaults are GPT-2's (gelu, pre-LN, dropout 0.1); the attention is always `xl`. */
export interface TransformerXLConfig extends BlockConfig {
  vocabSize: number;
  /** The segment length L of training (the model itself accepts any length). */
  blockSize: number;
  numLayers: number;
  /** Memory length M >= 0: positions of earlier segments each layer keeps. Default blockSize. */
  memLen?: number;
  /** Std of the N(0, std) embedding initialization; default 0.02. */
  initStd?: number;
}

export class TransformerXL extends Module {
  /** The resolved config (no `attention`, `position`: always the relative `xl` core). */
  readonly config: Omit<Required<TransformerXLConfig>, 'attention' | 'position'>;
  readonly wte: Embedding;
  readonly blocks: TransformerEncoder;
  readonly lnF: Norm;

  /**
   * @throws ConfigError naming a field that is unknown, of the wrong type or out of range,
   *   or an `attention` field (the core is always `xl:mem-len=M`).
   */
  constructor(config: TransformerXLConfig, generator: Generator = defaultGenerator) {
    super();
    if (config.attention !== undefined)
      throw new ConfigError(
        `xl config: attention = '${config.attention}' is not allowed (Transformer-XL's attention is always the relative 'xl' core; set memLen instead)`,
      );
    const {
      attention: _a,
      position: _p,
      ...c
    } = resolveModelConfig('xl', config, GPT_BLOCK, {
      memLen: config.blockSize,
      initStd: 0.02,
    });
    this.config = c;
    const gen = generator;
    this.wte = this.child(
      'wte',
      new Embedding(c.vocabSize, c.dModel, { generator: gen, std: c.initStd }),
    );
    const layers = makeEncoderLayers(c.numLayers, c.dModel, c.nhead, {
      ...c,
      attention: `xl:mem-len=${c.memLen}`,
      position: 'none',
      generator: gen,
    });
    for (const l of layers) (l.selfAttn.core as XLAttention).resetParameters(gen);
    const depth = createDepth(c.depth, c.dModel, gen, { layers: c.numLayers, sublayers: 2 });
    this.blocks = this.child('blocks', new TransformerEncoder(layers, null, depth));
    this.lnF = this.child('ln_f', makeNorm(c.norm, c.dModel, c.layerNormEps));
  }

  /**
   * Logits of a segment, attending the memory when given (which then moves on to this
   * segment: each layer keeps the last M positions).
   * @param idx (B, T) int32 token ids
   * @param memory from newMemory(), updated in place; none: the segment alone.
   * @param attnMask (T, m + T) bool, true = not allowed, on top of the causal mask (tests:
   *   one pass over several segments with XL's attention span).
   * @returns logits (B, T, V)
   * @throws Error if idx is not (B, T) int32.
   */
  forward(idx: Tensor, memory?: AttentionState[], attnMask?: Tensor): Tensor {
    if (idx.ndim !== 2 || idx.dtype !== 'int32')
      throw new Error(
        `TransformerXL: idx must be (B, T) int32, got ${idx.dtype} ${fmtShape(idx.shape)}`,
      );
    const masks = { isCausal: true, srcMask: attnMask ?? null };
    const x = this.blocks.forward(this.wte.forward(idx), masks, memory); // (B, T, C)
    return F.linear(this.lnF.forward(x), this.wte.weight); // (B, T, V), head tied to wte
  }

  /** Empty memories, one per layer application. */
  newMemory(): AttentionState[] {
    return this.blocks.newCaches();
  }
}

/**
 * Mean cross-entropy (nats per token) of a text read in consecutive segments of length L,
 * with the memory carried from segment to segment (`memory` true: Transformer-XL's
 * evaluation) or each segment alone (false: the same model without recurrence).
 * @param ids the token ids (at least L + 1)
 * @param segLen L >= 1 @param maxSegments at most this many segments (default all)
 * @returns loss (nats per token) and tokens scored
 * @throws Error naming segLen when the text is shorter than one segment plus one token.
 */
export function segmentLoss(
  model: TransformerXL,
  ids: ArrayLike<number>,
  segLen: number,
  opts: { memory: boolean; maxSegments?: number },
): { loss: number; tokens: number } {
  if (!Number.isInteger(segLen) || segLen < 1 || ids.length < segLen + 1)
    throw new Error(
      `segmentLoss: segLen ${segLen} needs an integer >= 1 and a text of at least segLen + 1 tokens (got ${ids.length})`,
    );
  const n = Math.min(Math.floor((ids.length - 1) / segLen), opts.maxSegments ?? Infinity);
  const V = model.config.vocabSize;
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  try {
    noGrad(() => {
      const memory = opts.memory ? model.newMemory() : undefined;
      for (let s = 0; s < n; s++) {
        const x = Array.from({ length: segLen }, (_, t) => ids[s * segLen + t]);
        const y = Array.from({ length: segLen }, (_, t) => ids[s * segLen + t + 1]);
        const logits = model.forward(tensor([x], undefined, 'int32'), memory);
        const yt = tensor(Int32Array.from(y), [segLen]);
        total += F.crossEntropy(F.reshape(logits, [segLen, V]), yt, { reduction: 'sum' }).item();
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { loss: total / (n * segLen), tokens: n * segLen };
}

/**
 * Continue `prompt` with Transformer-XL's memory: the prompt runs as one segment, then each
 * new token is a segment of one attending the memory (the last M positions of every layer).
 * @param prompt token ids (at least one) @returns the new tokens only
 * @throws Error if the prompt is empty, or for a bad sampling option.
 */
export function generateXL(
  model: TransformerXL,
  prompt: readonly number[],
  opts: GenerateOptions,
): number[] {
  return [...generateXLSteps(model, prompt, opts)];
}

/**
 * generateXL as a step iterator (the sampling loop of decode/generate.ts): each `next()` runs
 * one segment and yields the new token.
 * @throws Error (at once) if the prompt is empty, or for a bad suppressIds.
 */
export function generateXLSteps(
  model: TransformerXL,
  prompt: readonly number[],
  opts: GenerateOptions,
): IterableIterator<number> {
  if (prompt.length === 0)
    throw new Error('generateXL: the prompt must contain at least one token');
  const V = model.config.vocabSize;
  const memory = model.newMemory();
  let first = true;
  return samplingSteps(model, V, prompt, opts, (seq) => {
    const input = first ? [...seq] : seq.slice(-1); // the prompt, then one token per segment
    first = false;
    const y = model.forward(tensor([input], undefined, 'int32'), memory); // (1, T, V)
    return y.f32.subarray((input.length - 1) * V, input.length * V);
  });
}
