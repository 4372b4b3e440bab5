/**
 * Export of a trained model directory for other tools (issue 16), one entry per format in
 * EXPORT_FORMATS:
 *
 *   onnx            a Hugging Face model directory with the ONNX graphs (transformers.js,
 *                   onnxruntime): onnx-export.ts
 *   safetensors-hf  the same directory with model.safetensors under the HF architecture's
 *                   parameter names instead of ONNX (Python transformers): safetensors-hf.ts
 *
 * Each format turns the loaded directory into files (relative path -> content); exportModel
 * writes them. A model or option a format cannot convert exactly is refused with an error
 * naming it.
 */
import { load } from '../tasks/load.js';
import { readModelDirConfig, type ModelDirConfig } from '../tasks/modeldir.js';
import type { LoadedModel } from '../tasks/load.js';
import { onnxFiles } from './onnx-export.js';
import { safetensorsHfFiles } from './safetensors-hf.js';
import { writeHfDir, type HfFiles } from './hf-dir.js';

/** A format's conversion: the loaded directory and its config.json -> the files to write. */
export type Exporter = (loaded: LoadedModel, cfg: ModelDirConfig) => HfFiles;

/** The export formats by --format name. */
export const EXPORT_FORMATS: Record<string, Exporter> = {
  onnx: onnxFiles,
  'safetensors-hf': safetensorsHfFiles,
};

/**
 * Export the model directory `dir` in `format` to the directory `out`.
 * @returns the paths written
 * @throws Error naming --format when it is unknown (with the known ones), or as the format's
 *   exporter (a model or option it cannot convert), or as load (a bad model directory).
 */
export function exportModel(dir: string, format: string, out: string): string[] {
  const exporter = Object.hasOwn(EXPORT_FORMATS, format) ? EXPORT_FORMATS[format] : undefined;
  if (!exporter)
    throw new Error(
      `--format: '${format}' is not an export format (known: ${Object.keys(EXPORT_FORMATS).join(', ')})`,
    );
  const cfg = readModelDirConfig(dir);
  return writeHfDir(out, exporter(load(dir), cfg));
}

export { decoderLMToOnnx } from './decoder-lm-onnx.js';
export { classifierToOnnx } from './classifier-onnx.js';
export { encoderToOnnx, decoderToOnnx } from './seq2seq-onnx.js';
export { gpt2StateDict } from './safetensors-hf.js';
