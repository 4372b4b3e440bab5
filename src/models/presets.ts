/**
 * Named model presets (nanoGPT `GPTConfig` style), each with its parameter count, which
 * test/models/presets.test.ts checks against the built model.
 */
import type { DecoderLMConfig } from './decoder-lm.js';
import type { Seq2SeqConfig } from './seq2seq.js';

type Seq2SeqPreset = Omit<Seq2SeqConfig, 'srcVocabSize' | 'tgtVocabSize'>;
type LMPreset = Omit<DecoderLMConfig, 'vocabSize'>;

/**
 * Encoder-decoder presets. Parameter counts (from `seq2seqParameterCount`) are for 37,000-token
 * source and target vocabularies (the paper's WMT En-De BPE size), generator tied to the
 * target embedding, source embedding separate; and for 8,000-token vocabularies.
 */
export const seq2seqPresets = {
  /** The paper's base model (Table 3): d_model 512, h 8, N 6+6, d_ff 2048. 82,065,544 parameters (37k vocabularies; 63,121,544 without the separate source embedding, i.e. with the paper's three-way sharing, which reports 65M); 52,340,544 with 8k vocabularies. */
  base: {
    dModel: 512,
    nhead: 8,
    numEncoderLayers: 6,
    numDecoderLayers: 6,
    dimFeedforward: 2048,
    dropout: 0.1,
  },
  /** The paper's big model (Table 3): d_model 1024, h 16, N 6+6, d_ff 4096, dropout 0.3. 252,174,472 parameters (37k); 192,753,472 (8k). */
  big: {
    dModel: 1024,
    nhead: 16,
    numEncoderLayers: 6,
    numDecoderLayers: 6,
    dimFeedforward: 4096,
    dropout: 0.3,
  },
  /** A small model that trains on 2 CPU cores in minutes: d_model 256, h 4, N 3+3, d_ff 512. 8,058,688 parameters (8k vocabularies). */
  small: {
    dModel: 256,
    nhead: 4,
    numEncoderLayers: 3,
    numDecoderLayers: 3,
    dimFeedforward: 512,
    dropout: 0.1,
  },
  /**
   * The CLI's translation default, sized to train on 2 CPU cores in minutes (807 s for the
   * default 14 epochs on freedict-de-en with bf16 GEMMs): d_model 128, h 4, N 3+3, d_ff 512,
   * dropout 0.1. 3,445,056 parameters (8k vocabularies, generator tied to the target
   * embedding). With the default recipe's 14 epochs dropout 0.1 beats
   * dropout 0 on freedict-de-en's validation split; at 8 epochs it was the other way round
   * (docs/translation-recipe.md).
   */
  compact: {
    dModel: 128,
    nhead: 4,
    numEncoderLayers: 3,
    numDecoderLayers: 3,
    dimFeedforward: 512,
    dropout: 0.1,
  },
  /** For tests: d_model 32, h 4, N 1+1, d_ff 64. 541,504 parameters (8k vocabularies). */
  tiny: {
    dModel: 32,
    nhead: 4,
    numEncoderLayers: 1,
    numDecoderLayers: 1,
    dimFeedforward: 64,
    dropout: 0,
  },
} satisfies Record<string, Seq2SeqPreset>;

/** Decoder-only LM presets. */
export const lmPresets = {
  /** nanoGPT's Shakespeare-char baby GPT scaled to a CPU: 4 layers, 4 heads, width 128, context 64. 809,856 parameters (65 characters). */
  'char-small': { dModel: 128, nhead: 4, numLayers: 4, blockSize: 64, dropout: 0 },
  /** GPT-2 small's shape: 12 layers, 12 heads, width 768, context 1024. 124,439,808 parameters with its 50,257-token vocabulary (GPT-2's published 124M). */
  'gpt2-small': { dModel: 768, nhead: 12, numLayers: 12, blockSize: 1024, dropout: 0.1 },
  /** For tests: 2 layers, 2 heads, width 32, context 16. 28,064 parameters (65 characters). */
  tiny: { dModel: 32, nhead: 2, numLayers: 2, blockSize: 16, dropout: 0 },
} satisfies Record<string, LMPreset>;

/**
 * Parameter count of a Seq2SeqTransformer, by formula (each linear layer is in*out + out).
 * Per encoder layer: attention 4C^2 + 4C, FFN 2 C F + F + C, 2 LayerNorms 4C.
 * Per decoder layer: two attentions, FFN, 3 LayerNorms. Plus 2 final norms, embeddings
 * and generator (its weight shared with the target embedding when tied).
 */
export function seq2seqParameterCount(c: Seq2SeqConfig): number {
  const C = c.dModel;
  const Fd = c.dimFeedforward;
  const attn = 4 * C * C + 4 * C;
  const ffn = 2 * C * Fd + Fd + C;
  const enc = attn + ffn + 4 * C;
  const dec = 2 * attn + ffn + 6 * C;
  const tied = c.tieWeights ?? true;
  return (
    c.numEncoderLayers * enc +
    c.numDecoderLayers * dec +
    4 * C +
    c.srcVocabSize * C +
    c.tgtVocabSize * C +
    (tied ? 0 : c.tgtVocabSize * C) +
    c.tgtVocabSize
  );
}

/** Parameter count of a DecoderLM (tied head, learned positions unless sinusoidal). */
export function lmParameterCount(c: DecoderLMConfig): number {
  const C = c.dModel;
  const Fd = c.dimFeedforward ?? 4 * C;
  const layer = 4 * C * C + 4 * C + 2 * C * Fd + Fd + C + 4 * C;
  const pos = (c.position ?? 'learned') === 'learned' ? c.blockSize * C : 0;
  return c.numLayers * layer + c.vocabSize * C + pos + 2 * C;
}
