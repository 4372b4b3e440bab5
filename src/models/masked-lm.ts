/**
 * The encoder pre-trained by masked language modelling (BERT; Devlin et al. 2019, Sec. 3.1
 * "Task #1: Masked LM"): the EncoderClassifier's body (token embedding, positions, the
 * Transformer encoder and its final norm) with a classifier over the V tokens at every
 * position instead of one over K classes after pooling. Its parameter names are the
 * classifier's (`tok_emb.*`, `pos_emb.*`, `encoder.*`), and `classifier.*` is the MLM
 * output layer (C -> V, not tied to the embedding), so fine-tuning
 * (src/tasks/pretrain.ts) copies everything but `classifier.*` into a new classifier.
 *
 * Shape letters: B batch, S length, C d_model, V vocabulary.
 */
import { defaultGenerator, type Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { EncoderClassifier, type EncoderClassifierConfig } from './classifier.js';
import { IGNORE_INDEX } from '../train/mlm.js';

/** The classifier's config without the classes (they are the vocabulary). */
export type MaskedLMConfig = Omit<EncoderClassifierConfig, 'numClasses' | 'earlyExit'>;

export class MaskedLM extends EncoderClassifier {
  /** @throws ConfigError naming a bad field (as EncoderClassifier). */
  constructor(config: MaskedLMConfig, gen: Generator = defaultGenerator) {
    super({ ...config, numClasses: config.vocabSize }, gen);
  }

  /** The config to save and to rebuild this model from. */
  maskedLMConfig(): MaskedLMConfig {
    const { numClasses: _v, earlyExit: _e, ...rest } = this.config;
    return rest;
  }

  /**
   * Token logits at every position.
   * @param ids (B, S) int32 (corrupted by maskTokens), padded with padId
   * @returns (B, S, V)
   */
  override forward(ids: Tensor): Tensor {
    const { x, pad } = this.embed(ids);
    const h = this.encoder.forward(x, { srcKeyPaddingMask: pad }); // (B, S, C)
    return this.classifier.forward(h); // (B, S, V)
  }

  /**
   * The masked-LM loss: mean cross-entropy of the original tokens at the chosen positions
   * (labels IGNORE_INDEX elsewhere), as BERT's.
   * @param ids (B, S) int32 corrupted input @param labels (B, S) int32 @returns scalar
   */
  mlmLoss(ids: Tensor, labels: Tensor): Tensor {
    const V = this.config.vocabSize;
    const logits = F.reshape(this.forward(ids), [-1, V]); // (B S, V)
    return F.crossEntropy(logits, F.reshape(labels, [-1]), { ignoreIndex: IGNORE_INDEX });
  }

  /** Not a classifier: use mlmLoss. @throws Error always. */
  override trainingLoss(): Tensor {
    throw new Error('MaskedLM: use mlmLoss(ids, labels); trainingLoss is the classifier loss');
  }
}
