/** transformers.js's translation pipeline on an exported Seq2SeqTransformer (see tjs.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTranslator } from '../../src/tasks/translate.js';
import { seq2seqDir } from './model-dirs.js';
import { exported } from './tjs.js';

test('transformers.js translation on the exported directory: greedy output equals our translate (beam 1)', async () => {
  const { dir } = seq2seqDir({ normFirst: true });
  const { pipe: translator, config } = await exported(dir, 'translation');
  assert.equal(config.model_type, 'marian');
  const texts = ['the lazy dog', 'a cat sat', 'zebras vex quirky yaks!'];
  // maxLen also cuts our sources: 30 keeps them whole, as transformers.js does.
  const ours = loadTranslator(dir).translate(texts, { beam: 1, maxLen: 30 });
  assert.ok(new Set(ours).size > 1, `outputs vary: ${JSON.stringify(ours)}`);
  for (const [i, text] of texts.entries()) {
    const got = (await translator(text, { max_new_tokens: 30 })) as { translation_text: string }[];
    assert.equal(got[0].translation_text.trim(), ours[i], `'${text}'`);
  }
  const batch = (await translator(texts, { max_new_tokens: 30 })) as { translation_text: string }[];
  assert.deepEqual(
    batch.map((r) => r.translation_text.trim()),
    ours,
    'one padded batch',
  );
  await translator.dispose();
});
