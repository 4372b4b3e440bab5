/**
 * `export --format safetensors-hf`: the Hugging Face directory without ONNX, the weights
 * renamed to the HF architecture's parameter names (model.safetensors, metadata format "pt"),
 * so that Python users load it with that class (`GPT2LMHeadModel.from_pretrained(OUT)`).
 *
 * Only exact conversions are written:
 *
 *   DecoderLM -> GPT2LMHeadModel (HF transformers, models/gpt2/modeling_gpt2.py): GPT-2 is
 *     pre-LN with LayerNorm, learned positions, a tied head and Conv1D layers (weight
 *     (in, out), our Linear weights transposed). Sinusoidal positions are written as the wpe
 *     table (the same numbers added). Post-LN, RMSNorm/BatchNorm and relative positions have
 *     no GPT-2 equivalent and are refused, naming the option.
 *   EncoderClassifier, Seq2SeqTransformer: refused (BERT normalizes its embeddings and pools
 *     through a tanh layer; Marian has no final encoder/decoder norms and another sinusoid
 *     layout), so no exact conversion exists.
 *
 * Shape letters: C d_model, F d_ff, V vocabulary, T context.
 */
import type { Tensor } from '../tensor.js';
import type { LoadedModel } from '../tasks/load.js';
import type { ModelDirConfig } from '../tasks/modeldir.js';
import { DecoderLM } from '../models/decoder-lm.js';
import { LayerNorm } from '../nn/layers.js';
import { LearnedPositionalEmbedding, sinusoidTable } from '../nn/positional.js';
import { fromFloat32, serializeSafetensors, type RawTensor } from '../io/safetensors.js';
import { gpt2Config, lmGenerationConfig } from './hf-configs.js';
import { tokenizerFiles, type HfFiles } from './hf-dir.js';
import { requireExportable } from './support.js';

const FORMAT = 'safetensors-hf';

/** A copy of a float32 tensor as safetensors F32. */
const raw = (t: Tensor): RawTensor => fromFloat32(t.f32.slice(), [...t.shape]);

/** A (out, in) Linear weight as a Conv1D weight (in, out). */
function transposed(w: Tensor): RawTensor {
  const [rows, cols] = w.shape;
  const out = new Float32Array(rows * cols);
  const d = w.f32;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c];
  return fromFloat32(out, [cols, rows]);
}

/**
 * The GPT2LMHeadModel state dict of a decoder-only LM (lm_head.weight is tied to wte and
 * left out, as HF saves GPT-2).
 * @throws Error naming the option when the model has no exact GPT-2 equivalent: attention
 *   other than 'full', heads other than 'standard', depth other than 'fixed', a relative
 *   position, post-LN (normFirst false), or a norm other than 'layer'.
 */
export function gpt2StateDict(lm: DecoderLM): Map<string, RawTensor> {
  const c = lm.config;
  requireExportable(FORMAT, c, ['learned', 'sinusoidal']);
  if (!c.normFirst)
    throw new Error(
      `export --format ${FORMAT} converts pre-LN models only (GPT-2 is pre-LN); this model uses normFirst false (post-LN)`,
    );
  if (c.norm !== 'layer')
    throw new Error(
      `export --format ${FORMAT} supports norm 'layer' only (GPT-2's LayerNorm); this model uses '${c.norm}'`,
    );
  const sd = new Map<string, RawTensor>();
  const ln = (name: string, n: unknown): void => {
    const norm = n as LayerNorm;
    sd.set(`${name}.weight`, raw(norm.weight!));
    sd.set(`${name}.bias`, raw(norm.bias!));
  };
  sd.set('transformer.wte.weight', raw(lm.wte.weight));
  const wpe =
    lm.wpe instanceof LearnedPositionalEmbedding
      ? raw(lm.wpe.weight)
      : fromFloat32(sinusoidTable(c.blockSize, c.dModel).f32, [c.blockSize, c.dModel]);
  sd.set('transformer.wpe.weight', wpe);
  lm.blocks.layers.items.forEach((layer, i) => {
    const h = `transformer.h.${i}`;
    ln(`${h}.ln_1`, layer.norm1);
    sd.set(`${h}.attn.c_attn.weight`, transposed(layer.selfAttn.inProjWeight)); // (C, 3C)
    sd.set(`${h}.attn.c_attn.bias`, raw(layer.selfAttn.inProjBias!));
    sd.set(`${h}.attn.c_proj.weight`, transposed(layer.selfAttn.outProj.weight)); // (C, C)
    sd.set(`${h}.attn.c_proj.bias`, raw(layer.selfAttn.outProj.bias!));
    ln(`${h}.ln_2`, layer.norm2);
    sd.set(`${h}.mlp.c_fc.weight`, transposed(layer.linear1.weight)); // (C, F)
    sd.set(`${h}.mlp.c_fc.bias`, raw(layer.linear1.bias!));
    sd.set(`${h}.mlp.c_proj.weight`, transposed(layer.linear2.weight)); // (F, C)
    sd.set(`${h}.mlp.c_proj.bias`, raw(layer.linear2.bias!));
  });
  ln('transformer.ln_f', lm.lnF);
  return sd;
}

/**
 * The files of the safetensors-hf export of a loaded model directory.
 * @throws Error naming the model class or the option that has no exact conversion.
 */
export function safetensorsHfFiles(loaded: LoadedModel, cfg: ModelDirConfig): HfFiles {
  if (loaded.task !== 'lm' || !(loaded.model instanceof DecoderLM))
    throw new Error(
      `export --format ${FORMAT} converts DecoderLM (to GPT2LMHeadModel) only; ${cfg.model} has no exact Hugging Face equivalent (BERT normalizes its embeddings and pools through tanh; Marian has no final encoder/decoder norms). Use --format onnx`,
    );
  const lm = loaded.model;
  const own = { task: cfg.task, model: cfg.model, config: cfg.config };
  const config = { ...gpt2Config(lm, loaded.tokenizer, own) } as Record<string, unknown>;
  delete config['transformers.js_config'];
  return {
    'config.json': config,
    'generation_config.json': lmGenerationConfig(lm, loaded.tokenizer),
    ...tokenizerFiles(loaded.tokenizer, { maxLength: lm.config.blockSize }),
    'model.safetensors': serializeSafetensors(gpt2StateDict(lm), { format: 'pt' }),
  };
}
