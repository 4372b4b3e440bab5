/**
 * The exported directories loaded by transformers.js itself (its pipelines, from disk, remote
 * models off). This file must not import onnxruntime-node: transformers.js brings its own
 * (1.30) and two versions of libonnxruntime cannot share a process (node --test runs each
 * file in its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { exportModel } from '../../src/export/index.js';
import { loadLanguageModel } from '../../src/tasks/lm.js';
import { lmDir, tempDir } from './model-dirs.js';

/** Export `dir` as ONNX and open it with a transformers.js pipeline. */
async function exported<K extends 'text-generation' | 'text-classification'>(dir: string, task: K) {
  const out = join(tempDir('tts-export-out'), 'model');
  const files = exportModel(dir, 'onnx', out);
  assert.ok(files.some((f) => f.endsWith(join('onnx', 'model.onnx'))));
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(out);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return { pipe: await pipeline(task, basename(out)), config };
}

test('transformers.js text-generation on the exported directory: greedy output equals our generate', async () => {
  const { dir } = lmDir();
  const { pipe: generator, config } = await exported(dir, 'text-generation');
  assert.equal(config.model_type, 'gpt2');
  const ours = loadLanguageModel(dir);
  for (const prompt of ['the dog', 'a quick fox', 'zebras']) {
    const expected = ours.generate(prompt, { temperature: 0, maxTokens: 10 });
    const got = (await generator(prompt, { max_new_tokens: 10, do_sample: false })) as {
      generated_text: string;
    }[];
    assert.equal(got[0].generated_text, expected, `prompt '${prompt}'`);
  }
  await generator.dispose();
});
