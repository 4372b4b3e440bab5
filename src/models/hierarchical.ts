/**
 * Hierarchical Transformer classifier for long documents (survey Lin et al. 2021, Sec. 6.4,
 * "divide and conquer"; HIBERT, Zhang et al. 2019; Pappagari et al. 2019): the text is cut
 * into chunks of `chunkLen` tokens; a low-level encoder reads each chunk alone (attention
 * never crosses chunks: O(S chunkLen) instead of O(S^2)); mean pooling turns each chunk
 * into a vector; a high-level encoder of `numDocLayers` layers reads the chunk vectors
 * (with sinusoidal chunk positions, Vaswani et al. Sec. 3.5); pooling over the chunks and a
 * linear head classify the document.
 *
 * The low level is the flat EncoderClassifier's (same parameter names: `tok_emb.*`,
 * `pos_emb.*`, `encoder.*`, `classifier.*`), plus `doc_encoder.layers.{i}.*` and
 * `doc_encoder.norm.*` (pre-LN). With one chunk and numDocLayers 0 it is the flat model.
 *
 * Shape letters: B batch, S tokens, K chunks, Lc chunkLen, C d_model, N classes.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { makeNorm } from '../nn/norms.js';
import { makePositionalEncoding, type PositionalEncoding } from '../nn/positional.js';
import { TransformerEncoder, makeEncoderLayers } from '../nn/transformer.js';
import { EncoderClassifier, type EncoderClassifierConfig } from './classifier.js';
import { ConfigError } from './config.js';

export interface HierarchicalClassifierConfig extends EncoderClassifierConfig {
  /** Tokens per chunk Lc (the low-level encoder's length), in [1, maxLen]. */
  chunkLen: number;
  /** Layers of the high-level encoder over the chunk vectors, >= 0. Default numLayers. */
  numDocLayers?: number;
}

/** The flat config of the low level: the hierarchical fields checked and removed. */
function lowLevel(config: HierarchicalClassifierConfig): EncoderClassifierConfig {
  const { chunkLen, numDocLayers, ...base } = config;
  const maxLen = base.maxLen ?? 512;
  if (!Number.isInteger(chunkLen) || chunkLen < 1 || chunkLen > maxLen)
    throw new ConfigError(
      `hierarchical config: chunkLen = ${String(chunkLen)} is not allowed (an integer in [1, maxLen ${maxLen}])`,
    );
  if (
    numDocLayers !== undefined &&
    (!Number.isInteger(numDocLayers) || numDocLayers < 0 || numDocLayers > 4096)
  )
    throw new ConfigError(
      `hierarchical config: numDocLayers = ${String(numDocLayers)} is not allowed (an integer in [0, 4096])`,
    );
  if (base.earlyExit)
    throw new ConfigError(
      'hierarchical config: earlyExit is not supported (the exits would see single chunks)',
    );
  return base;
}

export class HierarchicalClassifier extends EncoderClassifier {
  readonly chunkLen: number;
  readonly numDocLayers: number;
  /** Chunks per document at most: ceil(maxLen / chunkLen). */
  readonly maxChunks: number;
  /** The high-level encoder, or null when numDocLayers is 0. */
  readonly docEncoder: TransformerEncoder | null;
  readonly docPos: PositionalEncoding | null;

  /** @throws ConfigError naming a bad field (the flat classifier's, chunkLen, numDocLayers). */
  constructor(config: HierarchicalClassifierConfig, gen: Generator = defaultGenerator) {
    super(lowLevel(config), gen);
    const c = this.config;
    this.chunkLen = config.chunkLen;
    this.numDocLayers = config.numDocLayers ?? c.numLayers;
    this.maxChunks = Math.ceil(c.maxLen / this.chunkLen);
    if (this.numDocLayers > 0) {
      this.docPos = makePositionalEncoding('sinusoidal', this.maxChunks, c.dModel, {
        generator: gen,
      });
      const layers = makeEncoderLayers(this.numDocLayers, c.dModel, c.nhead, {
        ...c,
        generator: gen,
      });
      const norm = c.normFirst ? makeNorm(c.norm, c.dModel, c.layerNormEps) : null;
      this.docEncoder = this.child('doc_encoder', new TransformerEncoder(layers, norm));
    } else [this.docPos, this.docEncoder] = [null, null];
  }

  /** The config to save (config.json): the flat fields plus chunkLen and numDocLayers. */
  hierarchicalConfig(): HierarchicalClassifierConfig {
    return { ...this.config, chunkLen: this.chunkLen, numDocLayers: this.numDocLayers };
  }

  /**
   * Cut (B, S) ids into K = ceil(S / Lc) chunks, the last padded with padId.
   * @returns (B K, Lc) int32, chunk k of document b in row b K + k; and K.
   */
  chunk(ids: Tensor): { chunks: Tensor; K: number } {
    const [B, S] = ids.shape;
    const Lc = this.chunkLen;
    const K = Math.max(1, Math.ceil(S / Lc));
    const out = zeros([B * K, Lc], 'int32');
    out.i32.fill(this.config.padId);
    for (let b = 0; b < B; b++) out.i32.set(ids.i32.subarray(b * S, (b + 1) * S), b * K * Lc); // rows b K ... are contiguous
    return { chunks: out, K };
  }

  /**
   * Chunk vectors: each chunk through the low-level encoder alone, mean-pooled (or its first
   * position with pooling 'cls').
   * @param ids (B, S) int32 @returns vectors (B, K, C), pad (B, K) bool (true = empty chunk)
   */
  chunkVectors(ids: Tensor): { vectors: Tensor; pad: Tensor } {
    const { chunks, K } = this.chunk(ids);
    const B = ids.shape[0];
    const { x, pad } = this.embed(chunks); // (B K, Lc, C)
    const h = this.encoder.forward(x, { srcKeyPaddingMask: pad });
    const v = F.reshape(this.pool(h, pad), [B, K, this.config.dModel]);
    const empty = zeros([B, K], 'bool');
    for (let r = 0; r < B * K; r++) {
      let all = 1;
      for (let t = 0; t < this.chunkLen && all; t++) if (!pad.data[r * this.chunkLen + t]) all = 0;
      empty.data[r] = all;
    }
    return { vectors: v, pad: empty };
  }

  /**
   * @param ids (B, S) int32, S <= maxLen, padded with padId @returns logits (B, N)
   * @throws Error if ids are not (B, S) int32.
   */
  override forward(ids: Tensor): Tensor {
    if (ids.ndim !== 2 || ids.dtype !== 'int32')
      throw new Error(
        `HierarchicalClassifier: ids must be (B, S) int32, got ${ids.dtype} ${fmtShape(ids.shape)}`,
      );
    const { vectors, pad } = this.chunkVectors(ids);
    let d = vectors; // (B, K, C)
    if (this.docEncoder && this.docPos)
      d = this.docEncoder.forward(this.docPos.forward(d), { srcKeyPaddingMask: pad });
    return this.classifier.forward(this.pool(d, pad)); // (B, N)
  }
}
