/** transformers.js's text-generation pipeline on an exported DecoderLM (see tjs.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLanguageModel } from '../../src/tasks/lm.js';
import { lmDir } from './model-dirs.js';
import { exported } from './tjs.js';

test('transformers.js text-generation on the exported directory: greedy output equals our generate, one by one and batched', async () => {
  const { dir } = lmDir();
  const { pipe: generator, config } = await exported(dir, 'text-generation');
  assert.equal(config.model_type, 'gpt2');
  const ours = loadLanguageModel(dir);
  const prompts = ['the dog', 'a quick fox', 'zebras'];
  const expected = prompts.map((p) => ours.generate(p, { temperature: 0, maxTokens: 10 }));
  for (const [i, prompt] of prompts.entries()) {
    const got = (await generator(prompt, { max_new_tokens: 10, do_sample: false })) as {
      generated_text: string;
    }[];
    assert.equal(got[0].generated_text, expected[i], `prompt '${prompt}'`);
  }
  // One batch: transformers.js pads on the left, masks the padding and numbers positions
  // from each prompt's first token (attention_mask, position_ids): the same continuations.
  const batch = (await generator(prompts, { max_new_tokens: 10, do_sample: false })) as {
    generated_text: string;
  }[][];
  assert.deepEqual(
    batch.map((r) => r[0].generated_text),
    expected,
    'left-padded batch',
  );
  await generator.dispose();
});
