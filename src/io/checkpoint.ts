/**
 * Model weights as safetensors under PyTorch state_dict names, so a checkpoint of
 * `Transformer` loads in torch.nn.Transformer with load_state_dict(strict=True) and back.
 */
import type { Module } from '../nn/module.js';
import { fmtShape } from '../tensor.js';
import {
  fromFloat32,
  readSafetensors,
  toFloat32,
  writeSafetensors,
  type RawTensor,
} from './safetensors.js';

/**
 * Write every parameter of `model` to `path` (atomically: temporary file, then rename).
 * Tied parameters are written under each of their names, as torch's state_dict has them.
 * @param metadata optional string map stored in the file's `__metadata__`.
 */
export function saveModel(model: Module, path: string, metadata?: Record<string, string>): void {
  const tensors = new Map<string, RawTensor>();
  for (const [name, p] of model.stateDict()) tensors.set(name, fromFloat32(p.f32, [...p.shape]));
  writeSafetensors(path, tensors, metadata);
}

/**
 * Load weights from a safetensors file into `model` by name. The file is fully parsed and
 * every name and shape checked before any parameter changes.
 * @param strict require exactly the model's names (missing and unexpected keys are errors).
 * @throws SafetensorsError for a malformed file; Error naming missing, unexpected and
 *   mis-shaped tensors; every message starts with `loadModel: ` and the path.
 * @returns the file's metadata.
 */
export function loadModel(model: Module, path: string, strict = true): Record<string, string> {
  const { tensors, metadata } = readSafetensors(path);
  const sd = new Map<string, { shape: number[]; data: Float32Array }>();
  try {
    for (const [name, t] of tensors) {
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
        throw new Error(
          `tensor ${name} has dtype ${t.dtype} ${fmtShape(t.shape)}; expected a float tensor`,
        );
      }
      sd.set(name, { shape: t.shape, data: toFloat32(t) });
    }
    model.loadStateDict(sd, strict);
  } catch (e) {
    throw new Error(`loadModel: ${path}: ${(e as Error).message}`, { cause: e });
  }
  return metadata;
}
