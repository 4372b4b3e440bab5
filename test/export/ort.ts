/** Helpers for the export tests: run an exported ONNX graph in onnxruntime-node. */
import * as ort from 'onnxruntime-node';

/** An int64 ONNX tensor from numbers. */
export function int64(values: readonly number[], dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

/** A float32 ONNX tensor. */
export function float32(values: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', values, dims);
}

/** Run model bytes (or a file path) once on feeds; the outputs by name. */
export async function runOnnx(
  model: Uint8Array | string,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model)
      : await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
