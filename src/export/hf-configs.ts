/**
 * config.json and generation_config.json of an exported model, in the field names of the
 * closest Hugging Face architecture, so that transformers.js knows how to drive the graph:
 *
 *   DecoderLM           -> GPT-2 (`model_type: "gpt2"`: n_embd, n_layer, n_head, n_positions,
 *                          vocab_size; transformers.js reads n_layer and n_head for the
 *                          past_key_values.{i}.key/.value inputs)
 *   EncoderClassifier   -> BERT sequence classification (`model_type: "bert"`, id2label,
 *                          label2id; the text-classification pipeline reads id2label)
 *   Seq2SeqTransformer  -> Marian (`model_type: "marian"`: d_model, encoder_layers,
 *                          decoder_layers, decoder_attention_heads for the
 *                          past_key_values.{i}.decoder.* inputs; decoder_start_token_id)
 *
 * The graph computes our model, not the HF class (pre-LN or post-LN, our positions, our
 * activation); `transformer_ts` records the original config, and the architecture fields say
 * what a Python user of the HF class would need to know.
 */
import type { DecoderLM } from '../models/decoder-lm.js';
import type { EncoderClassifier } from '../models/classifier.js';
import type { Seq2SeqTransformer } from '../models/seq2seq.js';
import type { Tokenizer } from '../tokenizers/index.js';
import { specialTokenIds } from '../tokenizers/index.js';
import { specialIds } from './hf-dir.js';

/** What transformers.js should load: the fp32 graphs (onnx/model.onnx). */
const TRANSFORMERS_JS = { 'transformers.js_config': { dtype: 'fp32' } };

/** Our model directory's own config, kept in the export. */
export interface OwnConfig {
  task: string;
  model: string;
  config: object;
}

/** HF's name of our activation ('gelu' is the exact erf form in transformers, as ours). */
const hfActivation = (a: string): string => (a === 'gelu' ? 'gelu' : 'relu');

/** GPT-2-shaped config.json of a decoder-only LM. */
export function gpt2Config(lm: DecoderLM, tok: Tokenizer, own: OwnConfig): object {
  const c = lm.config;
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_embd: c.dModel,
    n_layer: c.numLayers,
    n_head: c.nhead,
    n_inner: c.dimFeedforward,
    n_positions: c.blockSize,
    n_ctx: c.blockSize,
    activation_function: hfActivation(c.activation),
    layer_norm_epsilon: c.layerNormEps,
    tie_word_embeddings: true,
    use_cache: true,
    ...specialIds(tok),
    ...TRANSFORMERS_JS,
    transformer_ts: own,
  };
}

/**
 * generation_config.json of a decoder-only LM: greedy by default, at most the context, and
 * the special tokens suppressed as `transformer generate` does (suppressIds).
 */
export function lmGenerationConfig(lm: DecoderLM, tok: Tokenizer): object {
  return {
    ...specialIds(tok),
    do_sample: false,
    max_length: lm.config.blockSize,
    suppress_tokens: specialTokenIds(tok),
  };
}

/** BERT-shaped sequence-classification config.json of an encoder classifier. */
export function bertClassifierConfig(
  m: EncoderClassifier,
  tok: Tokenizer,
  labels: readonly string[],
  own: OwnConfig,
): object {
  const c = m.config;
  return {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.nhead,
    intermediate_size: c.dimFeedforward,
    hidden_act: hfActivation(c.activation),
    max_position_embeddings: c.maxLen,
    layer_norm_eps: c.layerNormEps,
    type_vocab_size: 1,
    problem_type: 'single_label_classification',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    ...specialIds(tok),
    ...TRANSFORMERS_JS,
    transformer_ts: own,
  };
}

/** Marian-shaped config.json of an encoder-decoder Transformer (joint vocabulary). */
export function marianConfig(m: Seq2SeqTransformer, tok: Tokenizer, own: OwnConfig): object {
  const c = m.config;
  const ids = specialIds(tok);
  return {
    architectures: ['MarianMTModel'],
    model_type: 'marian',
    is_encoder_decoder: true,
    vocab_size: c.tgtVocabSize,
    decoder_vocab_size: c.tgtVocabSize,
    d_model: c.dModel,
    encoder_layers: c.numEncoderLayers,
    decoder_layers: c.numDecoderLayers,
    encoder_attention_heads: c.nhead,
    decoder_attention_heads: c.nhead,
    encoder_ffn_dim: c.dimFeedforward,
    decoder_ffn_dim: c.dimFeedforward,
    activation_function: hfActivation(c.activation),
    max_position_embeddings: c.maxLen,
    scale_embedding: true,
    normalize_before: c.normFirst,
    tie_word_embeddings: c.tieWeights,
    share_encoder_decoder_embeddings: false,
    ...ids,
    decoder_start_token_id: ids.bos_token_id,
    ...TRANSFORMERS_JS,
    transformer_ts: own,
  };
}

/**
 * generation_config.json of an encoder-decoder: greedy from <bos> until <eos>, <pad> never
 * produced (as our greedyDecode), at most maxLen - 1 new tokens.
 */
export function seq2seqGenerationConfig(m: Seq2SeqTransformer, tok: Tokenizer): object {
  const ids = specialIds(tok);
  return {
    ...ids,
    decoder_start_token_id: ids.bos_token_id,
    do_sample: false,
    num_beams: 1,
    max_length: m.config.maxLen,
    suppress_tokens: tok.padId >= 0 && tok.padId !== tok.eosId ? [tok.padId] : [],
  };
}
