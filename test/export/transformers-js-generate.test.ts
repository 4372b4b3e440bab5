/** transformers.js's text-generation pipeline on an exported DecoderLM (see tjs.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLanguageModel } from '../../src/tasks/lm.js';
import { lmDir } from './model-dirs.js';
import { exported } from './tjs.js';

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
