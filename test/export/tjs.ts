/**
 * Open an exported directory with transformers.js itself (its pipelines, from disk, remote
 * models off). Test files using this must not import onnxruntime-node: transformers.js brings
 * its own (1.30) and two versions of libonnxruntime cannot share a process (node --test runs
 * each file in its own).
 */
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { exportModel } from '../../src/export/index.js';
import { tempDir } from './model-dirs.js';

/** Export `dir` as ONNX and open it with a transformers.js pipeline. */
export async function exported<K extends 'text-generation' | 'text-classification' | 'translation'>(
  dir: string,
  task: K,
) {
  const out = join(tempDir('tts-export-out'), 'model');
  const files = exportModel(dir, 'onnx', out);
  assert.ok(files.some((f) => f.includes(join('onnx', ''))));
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(out);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return { pipe: await pipeline(task, basename(out)), config };
}
