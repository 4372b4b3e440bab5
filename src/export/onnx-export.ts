/**
 * `export --format onnx`: a loaded model directory -> a Hugging Face model directory that
 * transformers.js loads from disk: config.json (the closest HF architecture's fields, see
 * hf-configs.ts), tokenizer.json, tokenizer_config.json, generation_config.json (generative
 * models) and the graphs: onnx/model.onnx (DecoderLM, EncoderClassifier) or
 * onnx/encoder_model.onnx + onnx/decoder_model_merged.onnx (Seq2SeqTransformer).
 */
import type { LoadedModel } from '../tasks/load.js';
import type { ModelDirConfig } from '../tasks/modeldir.js';
import { DecoderLM } from '../models/decoder-lm.js';
import { HierarchicalClassifier } from '../models/hierarchical.js';
import { decoderLMToOnnx } from './decoder-lm-onnx.js';
import { classifierToOnnx } from './classifier-onnx.js';
import {
  bertClassifierConfig,
  gpt2Config,
  lmGenerationConfig,
  marianConfig,
  seq2seqGenerationConfig,
} from './hf-configs.js';
import { Seq2SeqTransformer } from '../models/seq2seq.js';
import { TARGET_TOKENIZER } from '../tasks/translate.js';
import { decoderToOnnx, encoderToOnnx } from './seq2seq-onnx.js';
import { tokenizerFiles, type HfFiles } from './hf-dir.js';
import { unsupportedModel } from './support.js';

/** The model classes `--format onnx` converts. */
export const ONNX_MODELS = ['DecoderLM', 'EncoderClassifier', 'Seq2SeqTransformer'] as const;

/**
 * The files of the ONNX export of a loaded model directory.
 * @param cfg the directory's config.json (task, model class, model config)
 * @throws Error naming the model class when it has no ONNX conversion, or the option that
 *   cannot be converted (requireExportable).
 */
export function onnxFiles(loaded: LoadedModel, cfg: ModelDirConfig): HfFiles {
  const own = { task: cfg.task, model: cfg.model, config: cfg.config };
  if (loaded.task === 'lm') {
    const lm = loaded.model;
    if (!(lm instanceof DecoderLM)) throw unsupportedModel('onnx', cfg.model, ONNX_MODELS);
    return {
      'config.json': gpt2Config(lm, loaded.tokenizer, own),
      'generation_config.json': lmGenerationConfig(lm, loaded.tokenizer),
      ...tokenizerFiles(loaded.tokenizer, { maxLength: lm.config.blockSize }),
      'onnx/model.onnx': decoderLMToOnnx(lm),
    };
  }
  if (loaded.task === 'classify') {
    if (!('model' in loaded))
      throw new Error(
        `export: ${cfg.model} is a classical baseline, not a Transformer; there is no graph to export`,
      );
    const m = loaded.model;
    if (m instanceof HierarchicalClassifier) throw unsupportedModel('onnx', cfg.model, ONNX_MODELS);
    return {
      'config.json': bertClassifierConfig(m, loaded.tokenizer, loaded.labels, own),
      ...tokenizerFiles(loaded.tokenizer, { prependBos: true, maxLength: m.config.maxLen }),
      'onnx/model.onnx': classifierToOnnx(m),
    };
  }
  const m = loaded.model;
  if (!(m instanceof Seq2SeqTransformer)) throw unsupportedModel('onnx', cfg.model, ONNX_MODELS);
  if (loaded.vocabs.src !== loaded.vocabs.tgt)
    throw new Error(
      `export --format onnx needs one joint vocabulary (transformers.js reads one tokenizer.json); this model has separate source and target vocabularies (${TARGET_TOKENIZER})`,
    );
  return {
    'config.json': marianConfig(m, loaded.tokenizer, own),
    'generation_config.json': seq2seqGenerationConfig(m, loaded.tokenizer),
    ...tokenizerFiles(loaded.tokenizer, { maxLength: m.config.maxLen }),
    'onnx/encoder_model.onnx': encoderToOnnx(m),
    'onnx/decoder_model_merged.onnx': decoderToOnnx(m),
  };
}
